# Linli: installs the package and runs `linli run` (channels come from LINLI_* variables and the
# community file; with no channel configured it says so and exits non-zero).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 LINLI_DATABASE_URL=sqlite:////data/linli.db LINLI_HOST=0.0.0.0
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY intents ./intents
COPY storage ./storage
COPY jobs ./jobs
COPY examples ./examples
RUN pip install --no-cache-dir '.[postgres]' && useradd --create-home linli && mkdir -p /data && chown linli /data
USER linli
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["linli"]
CMD ["run", "--community", "/app/examples/community.yaml"]

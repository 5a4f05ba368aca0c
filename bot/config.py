"""Process settings, read from the environment (prefix ``LINLI_``) and an optional ``.env`` file.

Community data (people, buildings, channels) lives in the community YAML, not here: these are
the settings of one running process.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a deployment sets through ``LINLI_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="LINLI_", env_file=".env", extra="ignore")

    #: SQLAlchemy URL; SQLite is the embedded default, ``postgresql+psycopg://...`` for PostgreSQL.
    database_url: str = "sqlite:///linli.db"
    #: Community files to serve (``linli run --community`` adds to these); comma separated.
    communities: str = ""
    #: Intent YAML folder; empty means the intents shipped with Linli.
    intents_dir: str = ""

    telegram_token: str | None = None
    #: A local Bot API server, used as python-telegram-bot's ``base_url``.
    telegram_base_url: str | None = None
    #: Set to serve Telegram by webhook instead of long polling.
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_webhook_listen: str = "127.0.0.1"
    telegram_webhook_port: int = 8443

    #: Points the WeChat / WeCom API clients (token fetch included) at another server.
    wechat_api_base: str | None = None
    #: A WeChat callback whose signed ``timestamp`` is further than this from our clock (seconds,
    #: either way) is refused as a replay.
    wechat_callback_max_age: float = 300.0

    #: The ASGI server for WeChat / WeCom callbacks.
    host: str = "127.0.0.1"
    port: int = 8080

    #: Serve the admin console at /admin/ on host:port (LINLI_CONSOLE=false turns it off).
    console: bool = True
    #: The console's public base URL, for sign-in links (read by ``console.auth``).
    public_url: str = "http://127.0.0.1:8080"

    #: How often the scheduler sweeps due follow-ups and undelivered messages.
    tick_seconds: float = 15.0
    #: Unique name of this process, used in follow-up leases.
    instance: str = ""

"""The admin console: who may see what (``scope``), the figures (``metrics``), sign-in (``auth``), the pages (``web``)."""

"""Fixtures shared by the channel tests."""

from __future__ import annotations

import pytest
from fakes.wechat_api import FakeWeChatAPI


@pytest.fixture
def fake_api():
    """A local fake WeChat / WeCom API on 127.0.0.1 that records every call."""
    with FakeWeChatAPI() as api:
        yield api

import pytest

from crm.models import WeChatAccount
from tests.factories import WeChatAccountFactory
from tests.wecom.fake_sending import install
from tests.wecom.fake_server import FakeWeCom
from tests.wecom.fake_sync import FakeCorp
from wecom import callbacks, services

CORP_ID = "ww5823bf96d3bd56c7"
SECRET = "app-secret-Kq8ZtR2mWx"
CALLBACK_TOKEN = "QDG6eK"
ENCODING_AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"


@pytest.fixture(scope="session")
def _fake_server():
    server = FakeWeCom(corp_id=CORP_ID, secret=SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def fake_wecom(_fake_server, settings):
    """The local WeCom, fresh for each test, with backoff too short to notice."""
    _fake_server.reset()
    settings.WECOM_API_BASE = _fake_server.url
    settings.WECOM_BACKOFF_BASE_SECONDS = 0.001
    return _fake_server


@pytest.fixture
def credentials(workspace):
    return services.credentials_save(
        workspace=workspace, corp_id=CORP_ID, agent_id="1000002", secret=SECRET, callback_token=CALLBACK_TOKEN,
        encoding_aes_key=ENCODING_AES_KEY,
    )


@pytest.fixture
def seller(workspace):
    """The staff member zhangsan, whose account sends through WeCom."""
    return WeChatAccountFactory(workspace=workspace, wechat_id="zhangsan", channel=WeChatAccount.Channel.WECOM)


@pytest.fixture
def wecom(fake_wecom, monkeypatch):
    """The local WeCom answering the sending calls (tests/wecom/fake_sending.py)."""
    return install(fake_wecom, monkeypatch)


@pytest.fixture
def corp(fake_wecom):
    """The local WeCom holding a corp to sync (tests/wecom/fake_sync.py)."""
    corp = FakeCorp()
    corp.install(fake_wecom)
    return corp


@pytest.fixture
def deliver(credentials, django_capture_on_commit_callbacks):
    """A callback event, as WeCom posts it, stored and its task run."""
    from tests.wecom.signing import event_xml  # here: signing imports this module's keys

    def deliver(change_type, **fields):
        with django_capture_on_commit_callbacks(execute=True):
            return callbacks.event_store(credentials, event_xml(change_type, **fields))

    return deliver

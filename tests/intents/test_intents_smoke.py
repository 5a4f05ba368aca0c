from intents.classifier import Classifier
from intents.extract import extract_location
from intents.loader import load_intents
from intents.model import Location


def test_shipped_intents_load():
    s = load_intents()
    assert len(s.intents) == 21 and "none" in s.intents
    assert s.get("elevator").name == "电梯"


def test_classify_basic():
    c = Classifier(load_intents())
    r = c.classify("3号楼2单元楼道灯坏了好几天了")
    assert (r.intent, r.building, r.unit) == ("lighting", "3", "2")
    assert c.classify("收到").intent == "none"


def test_extract_triple():
    assert extract_location("我住2-1-302") == Location("2", "1", "302")

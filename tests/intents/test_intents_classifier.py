import dataclasses
from pathlib import Path

import pytest

from intents.classifier import Classifier
from intents.evaluate import evaluate, read_samples
from intents.loader import load_intents
from intents.model import Classification


def test_interface(classifier):
    c = classifier.classify("3号楼2单元楼道灯坏了好几天了")
    assert isinstance(c, Classification)
    assert (c.intent, c.building, c.unit, c.room, c.urgent, c.unsure) == ("lighting", "3", "2", None, False, False)
    assert 0.0 <= c.confidence <= 1.0
    assert "lighting" in c.why and "楼道灯" in c.why


@pytest.mark.parametrize(
    "text",
    [
        "谢谢王师傅，楼道灯修好了",
        "下水道通了，感谢师傅大晚上跑一趟🙏",
        "电梯已经恢复正常运行，大家可以放心使用了",
        "【停水通知】因管网维修，周三9:00-15:00全小区停水，敬请谅解",
        "物业通知：本周六统一灭蚊消杀，请关好门窗",
        "明天停电检修，请大家提前做好准备",
        "专业疏通下水道马桶，24小时上门，电话159****3302",
        "限时特价！楼下超市鸡蛋5.9一斤",
        "大家早上好🌞",
        "收到",
        "收到！",
        "+1👍",
        "好的👌",
        "🙏🙏🙏",
        "[图片]",
        "[捂脸][捂脸]",
        "你家狗狗好可爱，是什么品种？",
        "楼道灯是声控的，跺一下脚就亮了，不是坏了哈",
        "已报修，物业说下午来人",
        "刚才说的车我已经挪了，不好意思啊",
        "「王姐：电梯好像坏了」\n- - - - - - - - - - - - - - -\n已经修好了，刚坐过",
        "@物业小王 谢谢你们，垃圾都清走了，干净多了",
    ],
)
def test_hard_negatives_are_not_ticketed(classifier, text):
    c = classifier.classify(text)
    assert c.intent == "none" or c.unsure, c.why
    assert not c.urgent


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("晚上回家只能打手机电筒摸上楼", "lighting"),  # no keyword
        ("电题又坏了，天天坏", "elevator"),  # homophone typo
        ("下水到堵了，水下不去", "drainage"),
        ("次卧墙面一直参水，摸着湿漉漉的", "leak"),
        ("章郎满楼道都是", "pests"),
        ("樓道燈壞了，麻煩派人修一下", "lighting"),  # Traditional
        ("暖气一点都不惹，家里才16度", "heating"),
        ("咱家这水压咋整的，淋浴都淋不湿头", "water_supply"),  # dialect
        ("电梯一停一顿的，赶紧找人看看吧，顺便说一下楼道灯也不亮", "elevator"),  # two problems: main one
        ("「李：楼道灯不亮」\n- - - - - - - - - - - - - - -\n我们这边也是，一楼到五楼都不亮", "lighting"),
        ("修好了没两天又坏了，电梯又停了", "elevator"),  # a "fixed" word that is not a thanks
        ("@物业小李 地库那排灯又灭了", "lighting"),
        ("我是独居老人，客厅灯泡坏了够不着，能派个人来换吗", "assistance"),  # convention: help at home
        ("楼上漏水的事谈不拢，想请社区来调解", "dispute"),  # convention: mediation
        pytest.param(
            "能不能在儿童游乐区加两盏灯", "lighting",  # convention: covered problem phrased as suggestion
            marks=pytest.mark.xfail(strict=True, reason="known miss: the learned model reads 能不能…加 as a suggestion"),
        ),
        ("建议社区办个暑期托管班", "suggestion"),
    ],
)
def test_real_phrasing(classifier, text, intent):
    c = classifier.classify(text)
    assert c.intent == intent, c.why


@pytest.mark.parametrize(
    ("text", "urgent"),
    [
        ("电梯困人了！！三号楼二单元，里面有个老人", True),
        ("我被关在电梯里了，按了警铃没人应", True),
        ("一进单元门就闻到一股臭鸡蛋味，是不是哪家漏气了", True),
        ("楼道电表箱冒烟了，有焦糊味！", True),
        ("楼上漏水流进配电箱了，一直滋滋响", True),
        ("张奶奶摔倒了起不来，门反锁了", True),
        ("东门井盖没了，就剩个大洞，天黑看不见", True),
        ("有条大狗没拴绳在追小孩，快来人", True),
        ("厨房水管爆了，水喷得到处都是", False),  # burst pipe, nobody in danger
        ("电梯门夹了孩子一下，幸好没事", False),  # harm over
        ("被楼下的泰迪咬了一口，主人不认", False),
        ("消防通道被堵死了，真着火了消防车进得来吗", False),  # hypothetical
        ("燃气停了两天了，什么时候恢复", False),
        ("灶打不着火，是不是又停气了", False),
        ("楼道灯坏了", False),
    ],
)
def test_urgency(classifier, text, urgent):
    c = classifier.classify(text)
    assert c.urgent is urgent, c.why


def test_none_is_never_urgent(classifier):
    assert not classifier.classify("通知：明天消防演练，届时会有烟雾").urgent


def test_low_evidence_issue_is_unsure(classifier):
    c = classifier.classify("电梯里今天贴了新的广告，挺有意思")
    assert c.intent == "none" or c.unsure


def test_quoted_me_too_reply_reads_the_quote(classifier):
    c = classifier.classify("「孙：电梯又坏了」\n- - - - - - - - - - - - - - -\n3号楼这边也是，快两天了")
    assert (c.intent, c.building) == ("elevator", "3")
    assert "quoted" in c.why


def test_quoted_thanks_reply_stays_none(classifier):
    assert classifier.classify("「赵：门口垃圾桶满了」\n- - - - - - - - - - - - - - -\n刚看了，已经清走了").intent == "none"


HELD_OUT = Path(__file__).resolve().parents[2] / "benchmarks" / "data"


def test_quality_on_the_held_out_sets(classifier):
    """The issue's targets on messages the engine never learned from (benchmarks/data, written blind)."""
    samples = [s for p in sorted(HELD_OUT.glob("blind-*.jsonl")) for s in read_samples(p)]
    assert len(samples) >= 1000
    rep = evaluate(classifier, samples)
    assert rep.macro_f1 >= 0.90
    assert rep.none_ticket_rate <= 0.03 and rep.none_flag_rate <= 0.03
    assert rep.urgent_recall >= 0.90 and rep.urgent_precision >= 0.80
    assert rep.location_accuracy >= 0.95


def test_quality_on_the_bundled_sets_each_left_out_of_training(data_dir):
    """The bundled sets train the learned models; each left out in turn, the engine still meets the targets
    on it (urgency pooled over the three: each set has only 9-20 urgent messages)."""
    full = load_intents()
    tp = fp = fn = 0
    for name in ["messages-dev.jsonl", "challenge.jsonl", "holdout.jsonl"]:
        path = str(data_dir / name)
        rest = [r for r in full.training if r.file != path]
        assert len(rest) < len(full.training)
        rep = evaluate(Classifier(dataclasses.replace(full, training=rest)), read_samples(data_dir / name))
        assert rep.macro_f1 >= 0.90, name
        assert rep.none_ticket_rate <= 0.03, name
        assert rep.location_accuracy >= 0.95, name
        tp, fp, fn = tp + rep.urgent_tp, fp + rep.urgent_fp, fn + rep.urgent_fn
    assert tp / (tp + fn) >= 0.90 and tp / (tp + fp) >= 0.80


def test_a_second_problem_is_named_in_also(classifier):
    c = classifier.classify("3号楼楼道灯不亮，单元门口的监控也坏了好几天了")
    assert c.intent == "lighting" and [i for i, _ in c.also] == ["security"]
    assert classifier.classify("3号楼楼道灯不亮好几天了").also == ()


def test_a_reply_under_a_notice_decides_and_the_notice_gives_the_topic(classifier):
    quoted = "「物业通知：本周小区灭鼠工作已全部完成」\n- - - - - - - - - - - - - - -\n完成个啥，昨晚厨房又跑过去一只"
    assert classifier.classify(quoted).intent == "pests"
    thanks = "「物业通知：本周小区灭鼠工作已全部完成」\n- - - - - - - - - - - - - - -\n收到，辛苦了"
    assert classifier.classify(thanks).intent == "none"


@pytest.mark.parametrize("text", ["刚才家里闻到一股煤气味，我们已经全家下楼了，在楼下等", "是不是有煤气味？",
                                  "昨晚楼下电动车冒烟了，现在还有股焦糊味"])
def test_danger_wins_when_told_calmly_in_the_past_or_as_a_question(classifier, text):
    c = classifier.classify(text)
    assert c.intent != "none" and c.urgent, c.why

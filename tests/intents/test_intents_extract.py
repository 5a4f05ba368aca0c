import pytest

from intents.extract import extract_location
from intents.model import Location


@pytest.mark.parametrize(
    ("text", "loc"),
    [
        # building forms: 号楼 / 栋 / 幢 / # / 座, Chinese and full-width numerals
        ("3号楼楼道灯坏了", ("3", None, None)),
        ("三号楼二单元电梯困人", ("3", "2", None)),
        ("３号楼门口", ("3", None, None)),
        ("十二栋有人养大狗", ("12", None, None)),
        ("十二棟有人養大狗", ("12", None, None)),
        ("7幢旁边的树倒了", ("7", None, None)),
        ("5#楼下面的垃圾桶", ("5", None, None)),
        ("11#2单元门口飞线", ("11", "2", None)),
        ("B座电梯厅", ("B", None, None)),
        ("A座的暖气", ("A", None, None)),
        ("3栋2单元", ("3", "2", None)),
        ("4栋一单元102室", ("4", "1", "102")),
        # building-unit-room
        ("我住2-1-302", ("2", "1", "302")),
        ("3-2-1801，晚上没水", ("3", "2", "1801")),
        ("５号楼２单元４０１", ("5", "2", "401")),
        # rooms
        ("我家1201室天花板漏水", (None, None, "1201")),
        ("我家楼上1502天天半夜蹦", (None, None, "1502")),
        ("302那家狗一直叫", (None, None, "302")),
        ("我住6号楼302", ("6", None, "302")),
        # not locations: floors, garage levels, zones, phases, gates, dates, plates, phones, prices
        ("到不了18楼", (None, None, None)),
        ("我家住26层", (None, None, None)),
        ("１２栋５楼的感应灯", ("12", None, None)),
        ("地下车库B2层全黑", (None, None, None)),
        ("地库B区17号车位被占", (None, None, None)),
        ("二期6号楼的自来水", ("6", None, None)),
        ("东门3号门的道闸", (None, None, None)),
        ("都11月16号了", (None, None, None)),
        ("2024-11-15停水", (None, None, None)),
        ("9:00-12:00 6号楼停电", ("6", None, None)),
        ("车牌尾号386", (None, None, None)),
        ("车牌京A123那辆车", (None, None, None)),
        ("电话13812345678", (None, None, None)),
        ("微信同号138****6621", (None, None, None)),
        ("修了2000多", (None, None, None)),
        ("六楼也能偷", (None, None, None)),
        ("5#楼1单元6到9层", ("5", "1", None)),
        ("水费多收了120元", (None, None, None)),
    ],
)
def test_extract_location(text, loc):
    assert extract_location(text) == Location(*loc)


def test_extract_accepts_normalized_text():
    assert extract_location("3号楼", normalized=True) == Location("3", None, None)

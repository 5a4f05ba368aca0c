import pytest

from intents.normalize import normalize, strip_quote


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("樓道燈壞了", "楼道灯坏了"),  # Traditional -> Simplified
        ("１２栋５楼ＡＢＣ", "12栋5楼abc"),  # full-width digits and letters
        ("@物业小王 电梯坏了", "电梯坏了"),  # mention dropped
        ("@物业小王\u2005电梯坏了", "电梯坏了"),  # WeChat mention separator
        ("@所有人 明天开会", "@所有人 明天开会"),  # broadcast marker kept
        ("有蟑螂🪳", "有蟑螂蟑螂"),  # meaningful emoji -> word
        ("好的👌👌", "好的"),  # other emoji dropped
        ("[捂脸][捂脸]", ""),  # WeChat emoticon codes
        ("[图片]", ""),
        ("  电梯   坏了  ", "电梯 坏了"),
        ("楼 道 里 有 烟 味", "楼道里有烟味"),  # spelled out one character at a time
        ("3 号 楼 电 梯 坏 了", "3号楼电梯坏了"),
        ("灯坏了 三 天 了 呀", "灯坏了 三天了呀"),  # only the spelled-out run is joined
        ("好 的", "好 的"),  # clauses of one or two characters stay apart
    ],
)
def test_normalize(raw, expected):
    assert normalize(raw) == expected


def test_quoted_reply_keeps_only_the_reply():
    text = "「张三：楼道灯坏了」\n- - - - - - - - - - - - - - -\n已经修好了"
    assert strip_quote(text) == "已经修好了"
    assert normalize(text) == "已经修好了"


def test_text_without_quote_is_unchanged():
    assert strip_quote("电梯\n- - - -\n坏了") == "电梯\n- - - -\n坏了"

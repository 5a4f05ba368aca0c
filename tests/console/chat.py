"""A small replayed chat whose figures are computed by hand in test_metrics.py (and used by the browser tests)."""

from __future__ import annotations

from tests.support import msg, tick

CHAT = [
    # T1 lighting, building 8 (bh8, ack 4h, resolve 2d): accepted after 30 min, done, confirmed at 10:05, 满意
    msg("03-02 09:00", "r_sun", "8号楼3单元楼道灯不亮了", mid="c1"),
    msg("03-02 09:30", "bh8", "/accept 1", chat="private"),
    msg("03-02 10:00", "bh8", "/done 1 换了灯泡", chat="private"),
    msg("03-02 10:05", "r_sun", "好了", chat="private"),
    msg("03-02 10:06", "r_sun", "1", chat="private"),
    # T2 elevator, building 3 (bh3, ack 30m, resolve 1d): accepted after 20 min, done 15:00,
    # "没修好" reopens it, done again, confirmed 16:10, 差评
    msg("03-02 11:00", "r_zhao", "3号楼电梯坏了，一直显示故障", mid="c2"),
    msg("03-02 11:20", "bh3", "/accept 2", chat="private"),
    msg("03-02 15:00", "bh3", "/done 2 已重启", chat="private"),
    msg("03-02 15:10", "r_zhao", "没修好", chat="private"),
    msg("03-02 15:30", "bh3", "/accept 2", chat="private"),
    msg("03-02 16:00", "bh3", "/done 2 换了主板", chat="private"),
    msg("03-02 16:10", "r_zhao", "好了", chat="private"),
    msg("03-02 16:11", "r_zhao", "差评", chat="private"),
    # T3 lighting, building 5 (bh5): never accepted; reminder 13:00, nudged 14:00, escalated to gw1 17:00
    msg("03-03 09:00", "r_qian", "5号楼楼道灯不亮", mid="c3"),
    # T4 lighting, building 3 (bh3): closed by an admin after 30 min
    msg("03-03 10:00", "r_li", "3号楼1单元楼道灯不亮", mid="c4"),
    msg("03-03 10:30", "admin1", "/close 4 重复报修", chat="private"),
    msg("03-03 14:00", "r_qian", "5号楼的灯什么时候修啊", chat="private"),
    tick("03-03 18:00"),
]

"""Names of people and places in the synthetic city of 江临 (Jiānglín), with their pinyin.

Surname weights follow the rough shares of the most common Chinese surnames; given names are
one or two characters drawn from pools that lean male, lean female or are shared. `SIMILAR`
lists the characters a clerk commonly writes in place of another (homophones and near-forms),
for the name typos of records without an id.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# (surname, pinyin, weight in ‰ of the population, roughly)
SURNAMES: tuple[tuple[str, str, float], ...] = (
    ("王", "Wáng", 71), ("李", "Lǐ", 70), ("张", "Zhāng", 67), ("刘", "Liú", 54),
    ("陈", "Chén", 45), ("杨", "Yáng", 31), ("黄", "Huáng", 22), ("赵", "Zhào", 20),
    ("吴", "Wú", 18), ("周", "Zhōu", 17), ("徐", "Xú", 13), ("孙", "Sūn", 12),
    ("马", "Mǎ", 12), ("朱", "Zhū", 11), ("胡", "Hú", 11), ("郭", "Guō", 11),
    ("何", "Hé", 10), ("林", "Lín", 10), ("高", "Gāo", 10), ("罗", "Luó", 9),
    ("郑", "Zhèng", 8), ("梁", "Liáng", 8), ("谢", "Xiè", 7), ("宋", "Sòng", 6),
    ("唐", "Táng", 6), ("许", "Xǔ", 6), ("韩", "Hán", 6), ("邓", "Dèng", 5),
    ("冯", "Féng", 5), ("曹", "Cáo", 5), ("彭", "Péng", 5), ("曾", "Zēng", 5),
    ("肖", "Xiāo", 5), ("田", "Tián", 5), ("董", "Dǒng", 4), ("潘", "Pān", 4),
    ("袁", "Yuán", 4), ("蔡", "Cài", 4), ("蒋", "Jiǎng", 4), ("余", "Yú", 4),
    ("于", "Yú", 4), ("杜", "Dù", 4), ("叶", "Yè", 4), ("程", "Chéng", 4),
    ("魏", "Wèi", 3), ("苏", "Sū", 3), ("吕", "Lǚ", 3), ("丁", "Dīng", 3),
    ("任", "Rén", 3), ("卢", "Lú", 3), ("姚", "Yáo", 3), ("沈", "Shěn", 3),
    ("钟", "Zhōng", 3), ("姜", "Jiāng", 3), ("崔", "Cuī", 3), ("谭", "Tán", 3),
    ("陆", "Lù", 3), ("范", "Fàn", 2), ("汪", "Wāng", 2), ("廖", "Liào", 2),
    ("石", "Shí", 2), ("金", "Jīn", 2), ("韦", "Wéi", 2), ("贾", "Jiǎ", 2),
    ("夏", "Xià", 2), ("付", "Fù", 2), ("方", "Fāng", 2), ("邹", "Zōu", 2),
    ("熊", "Xióng", 2), ("白", "Bái", 2), ("孟", "Mèng", 2), ("秦", "Qín", 2),
    ("邱", "Qiū", 2), ("侯", "Hóu", 2), ("江", "Jiāng", 2), ("尹", "Yǐn", 2),
    ("薛", "Xuē", 2), ("闫", "Yán", 2), ("段", "Duàn", 2), ("雷", "Léi", 2),
    ("龙", "Lóng", 1), ("黎", "Lí", 1), ("史", "Shǐ", 1), ("陶", "Táo", 1),
    ("贺", "Hè", 1), ("毛", "Máo", 1), ("郝", "Hǎo", 1), ("顾", "Gù", 1),
    ("龚", "Gōng", 1), ("邵", "Shào", 1), ("万", "Wàn", 1), ("武", "Wǔ", 1),
    ("钱", "Qián", 1), ("戴", "Dài", 1), ("严", "Yán", 1), ("欧阳", "Ōuyáng", 0.5),
)  # fmt: skip

_MALE = (
    "伟wěi 强qiáng 磊lěi 军jūn 洋yáng 勇yǒng 杰jié 涛tāo 明míng 超chāo 刚gāng 辉huī 鹏péng "
    "飞fēi 鑫xīn 波bō 斌bīn 宇yǔ 浩hào 凯kǎi 健jiàn 俊jùn 帆fān 旭xù 龙lóng 峰fēng 建jiàn "
    "国guó 志zhì 海hǎi 东dōng 博bó 轩xuān 睿ruì 航háng 泽zé 宏hóng 毅yì 成chéng 亮liàng "
    "阳yáng 昊hào 晨chén 天tiān"
)
_FEMALE = (
    "芳fāng 娜nà 敏mǐn 静jìng 丽lì 艳yàn 娟juān 霞xiá 秀xiù 玲líng 燕yàn 红hóng 婷tíng "
    "雪xuě 慧huì 莹yíng 琳lín 晶jīng 颖yǐng 倩qiàn 欣xīn 怡yí 佳jiā 梦mèng 璐lù 洁jié "
    "萍píng 兰lán 月yuè 梅méi 琪qí 薇wēi 悦yuè 雨yǔ 涵hán 彤tóng 美měi 凤fèng 春chūn "
    "丹dān 露lù 英yīng 诗shī 雅yǎ"
)
_SHARED = "晓xiǎo 小xiǎo 文wén 华huá 平píng 林lín 嘉jiā 一yī 子zǐ 梓zǐ 思sī 安ān 欢huān"


def _split(text: str) -> tuple[tuple[str, str], ...]:
    return tuple((word[0], word[1:]) for word in text.split())


GIVEN_MALE = _split(_MALE) + _split(_SHARED)
GIVEN_FEMALE = _split(_FEMALE) + _split(_SHARED)

# A character and one a clerk writes for it by mistake.
SIMILAR: dict[str, str] = dict(
    pair.split(">")
    for pair in (
        "伟>玮 明>铭 华>桦 丽>莉 静>婧 娜>纳 杰>洁 军>君 辉>晖 峰>锋 林>琳 琳>林 红>虹 "
        "宏>弘 燕>艳 艳>燕 玲>铃 婷>亭 晶>菁 敏>民 刚>钢 波>博 博>波 宇>羽 雨>宇 涛>韬 "
        "鹏>朋 勇>永 霞>夏 梅>玫 芳>方 平>萍 萍>平 斌>彬 飞>菲 浩>皓 凯>恺 健>建 建>健 "
        "俊>骏 旭>煦 晨>辰 龙>隆 东>冬 文>雯 志>智 睿>瑞 航>杭 毅>奕 慧>惠 莹>滢 颖>英 "
        "英>颖 倩>茜 欣>馨 怡>宜 佳>家 梦>孟 璐>露 露>璐 洁>杰 兰>岚 月>悦 悦>月 薇>微 "
        "思>斯 涵>晗 彤>桐 美>梅 凤>风 晓>小 小>晓 嘉>佳 梓>子 安>岸 欢>环 雪>学 "
        "张>章 王>汪 汪>王 李>黎 黎>李 陈>程 程>陈 徐>许 许>徐 肖>萧 付>傅 于>余 余>于 "
        "江>姜 姜>江 周>邹 刘>柳 吴>伍 杨>阳 林>琳"
    ).split()
)

_COMMON = tuple(dict.fromkeys(c for c, _ in GIVEN_MALE + GIVEN_FEMALE))

CITY = "江临市"
CITY_SHORT = "临"
# Made-up districts. Their six-digit codes are borrowed from real counties that existed
# throughout the birth years we draw, so that ids pass a full GB 11643 check (stdnum looks
# the code up).
DISTRICTS: tuple[tuple[str, str], ...] = (
    ("临江区", "522622"), ("东湖区", "522623"), ("西山区", "522624"), ("南港区", "522625"),
    ("北苑区", "522626"), ("新城区", "522627"), ("老城区", "522628"), ("高新区", "522629"),
    ("滨海区", "522630"), ("青石区", "522631"), ("柳岸区", "522632"), ("金桥区", "522633"),
)  # fmt: skip
DISTRICT_WEIGHTS = (14, 12, 10, 9, 9, 8, 8, 7, 7, 6, 5, 5)
STREETS = (
    "人民路 解放路 中山路 建设路 和平路 青年路 胜利路 文化路 新华路 长江路 黄河路 学府路 "
    "滨江路 光明街 朝阳街 友谊路 幸福路 工业路 金桥路 春晖街 临江大道 湖滨路 西山路 南港大道"
).split()


def _strings(values) -> pa.Array:
    return pa.array(list(values), pa.string())


def people_names(
    rng: np.random.Generator, male: np.ndarray, pinyin_share: float
) -> tuple[pa.Array, pa.Array]:
    """Draw a Han name for each person, and a pinyin romanisation for a share of them."""
    n = len(male)
    weights = np.array([w for _, _, w in SURNAMES])
    surname = rng.choice(len(SURNAMES), size=n, p=weights / weights.sum())
    two_chars = rng.random(n) < 0.7
    pool = np.where(male, 0, len(GIVEN_MALE))
    size = np.where(male, len(GIVEN_MALE), len(GIVEN_FEMALE))
    first = pool + (rng.random(n) * size).astype(np.int64)
    second = pool + (rng.random(n) * size).astype(np.int64)
    has_pinyin = rng.random(n) < pinyin_share

    given = GIVEN_MALE + GIVEN_FEMALE
    han_given = _strings(c for c, _ in given)
    pin_first = _strings(p.capitalize() for _, p in given)
    pin_second = _strings(p for _, p in given)
    second_idx = pa.array(second, mask=~two_chars)

    name = pc.binary_join_element_wise(
        _strings(s for s, _, _ in SURNAMES).take(surname),
        han_given.take(first),
        pc.fill_null(han_given.take(second_idx), ""),
        "",
    )
    pinyin = pc.binary_join_element_wise(
        _strings(p for _, p, _ in SURNAMES).take(surname),
        pc.binary_join_element_wise(
            pin_first.take(first), pc.fill_null(pin_second.take(second_idx), ""), ""
        ),
        " ",
    )
    pinyin = pc.if_else(pa.array(has_pinyin), pinyin, pa.nulls(n, pa.string()))
    return name, pinyin


def addresses(rng: np.random.Generator, district: np.ndarray) -> pa.Array:
    """Draw a street address inside each person's district."""
    n = len(district)
    street = rng.integers(0, len(STREETS), n)
    number = rng.integers(1, 400, n)
    building = rng.integers(1, 30, n)
    unit = rng.integers(1, 6, n)
    room = rng.integers(1, 33, n) * 100 + rng.integers(1, 5, n)

    def text(values: np.ndarray) -> pa.Array:
        return pc.cast(pa.array(values), pa.string())

    return pc.binary_join_element_wise(
        _strings(d for d, _ in DISTRICTS).take(pa.array(district)),
        _strings(STREETS).take(pa.array(street)),
        text(number), "号", text(building), "栋", text(unit), "单元", text(room), "室",
        "",
    )  # fmt: skip


def misspell(name: str, position: float, fallback: float) -> str:
    """Replace one character by one commonly written for it (or by a common one)."""
    i = min(int(position * len(name)), len(name) - 1)
    wrong = SIMILAR.get(name[i])
    if wrong is None:
        common = [c for c in _COMMON if c != name[i]]
        wrong = common[int(fallback * len(common))]
    return name[:i] + wrong + name[i + 1 :]


def strip_tones(pinyin: str) -> str:
    """Drop the tone marks of a pinyin name, as systems without diacritics write it."""
    bare = unicodedata.normalize("NFD", pinyin)
    return "".join(c for c in bare if not unicodedata.combining(c))

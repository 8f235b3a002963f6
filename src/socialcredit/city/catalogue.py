"""What the city's sources report, how often, and in which file format.

Rates are records per year for a resident of weight 1 at density 1; `basis` names the
resident weight that scales them (see `generate._weights`): most negative types follow a
heavy-tailed "trouble" propensity, so a small share of residents collects most of them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    id: str
    format: str  # csv | jsonl | parquet
    fields: str  # the identity fields its records carry besides national_id
    without_id: float = 0.0  # share of its records that come with no national id


@dataclass(frozen=True)
class RecordType:
    type: str
    rate: float
    basis: str
    severity: str | None = None
    amount: float | tuple[float, ...] | None = None  # a median (lognormal) or fixed choices
    evidence: str | None = None
    legal_basis: str | None = None

    @property
    def source(self) -> str:
        return SOURCE_OF[self.type]


SOURCES: tuple[Source, ...] = (
    Source("court", "csv", "name sex birth_date address"),
    Source("tax", "csv", "name address"),
    Source("bank", "csv", "name birth_date address phone"),
    Source("rail", "jsonl", "name phone", without_id=0.03),
    Source("aviation", "jsonl", "name sex birth_date phone"),
    Source("traffic", "jsonl", "name"),
    Source("utility", "jsonl", "name address phone", without_id=0.03),
    Source("volunteer", "parquet", "name phone"),
    Source("civic", "parquet", "name sex birth_date"),
    Source("school", "parquet", "name sex birth_date"),
    Source("shop", "parquet", "name phone", without_id=0.03),
)

_CIVIL_PROCEDURE = "《中华人民共和国民事诉讼法》第二百六十六条"
_ROAD_TRAFFIC = "《中华人民共和国道路交通安全法》"
TYPES: tuple[RecordType, ...] = (
    RecordType("court.dishonest_debtor", 0.005, "trouble", "serious", 80_000, "执行裁定书",
               "《最高人民法院关于公布失信被执行人名单信息的若干规定》第一条"),
    RecordType("court.judgment_breach", 0.002, "trouble", "general", 20_000, "执行通知书",
               _CIVIL_PROCEDURE),
    RecordType("court.obligation_performed", 0.0, "clearing", None, None, "执行结案通知书",
               _CIVIL_PROCEDURE),
    RecordType("tax.evasion", 0.002, "trouble", "serious", 50_000, "税务行政处罚决定书",
               "《中华人民共和国税收征收管理法》第六十三条"),
    RecordType("tax.arrears_paid", 0.0, "clearing", None, None, "完税证明",
               "《中华人民共和国税收征收管理法》第三十二条"),
    RecordType("finance.bank_arrears", 0.04, "trouble", "minor", 3_000, "征信逾期记录"),
    RecordType("finance.private_lending_breach", 0.003, "trouble", "general", 30_000,
               "民间借贷纠纷判决书", _CIVIL_PROCEDURE),
    RecordType("rail.fare_evasion", 0.01, "trouble", "minor", 55, "车票查验记录",
               "《铁路旅客运输规程》"),
    RecordType("rail.disruption", 0.003, "trouble", "general", None, "乘警出警记录",
               "《铁路安全管理条例》"),
    RecordType("aviation.unruly_passenger", 0.0003, "trouble", "serious", None, "机组报告",
               "《民用航空安全保卫条例》"),
    RecordType("traffic.red_light", 0.1, "driver", "minor", (200.0,), "电子警察抓拍",
               _ROAD_TRAFFIC),
    RecordType("traffic.speeding", 0.3, "driver", "minor", (50.0, 100.0, 200.0, 500.0, 1000.0),
               "测速抓拍", _ROAD_TRAFFIC),
    RecordType("traffic.drunk_driving", 0.002, "drunk", "serious", (1000.0, 2000.0),
               "酒精检测报告", "《中华人民共和国道路交通安全法》第九十一条"),
    RecordType("utility.fee_arrears", 0.06, "household", "minor", 400, "催缴通知单"),
    RecordType("utility.theft", 0.0006, "trouble", "general", 2_000, "用电检查记录",
               "《电力供应与使用条例》第三十一条"),
    RecordType("volunteer.hours", 1.0, "volunteer", None, None, "志愿服务记录"),
    RecordType("civic.blood_donation", 0.8, "donor", None, None, "无偿献血证"),
    RecordType("civic.commendation", 0.003, "commendable", None, None, "表彰决定"),
    RecordType("school.academic_misconduct", 0.003, "student", "general", None,
               "学术不端调查报告", "《高等学校预防与处理学术不端行为办法》"),
    RecordType("shop.untrustworthy_other", 0.012, "shopper_trouble", "minor", 300, "平台违规判定"),
    RecordType("shop.on_time_payment", 0.35, "shopper", None, None, "还款记录"),
)  # fmt: skip

SOURCE_OF: dict[str, str] = {
    "court.dishonest_debtor": "court", "court.judgment_breach": "court",
    "court.obligation_performed": "court", "tax.evasion": "tax", "tax.arrears_paid": "tax",
    "finance.bank_arrears": "bank", "finance.private_lending_breach": "bank",
    "rail.fare_evasion": "rail", "rail.disruption": "rail",
    "aviation.unruly_passenger": "aviation", "traffic.red_light": "traffic",
    "traffic.speeding": "traffic", "traffic.drunk_driving": "traffic",
    "utility.fee_arrears": "utility", "utility.theft": "utility",
    "volunteer.hours": "volunteer", "civic.blood_donation": "civic",
    "civic.commendation": "civic", "school.academic_misconduct": "school",
    "shop.untrustworthy_other": "shop", "shop.on_time_payment": "shop",
}  # fmt: skip

# A clearing type: the cause it clears, the share of causes cleared, and the delay in days.
CLEARINGS: dict[str, tuple[str, float, tuple[int, int]]] = {
    "court.obligation_performed": ("court.dishonest_debtor", 0.5, (30, 540)),
    "tax.arrears_paid": ("tax.evasion", 0.6, (20, 365)),
}
# Types whose records carry a case number (a clearing copies its cause's).
CASE_TYPES = frozenset({"court.dishonest_debtor", "court.judgment_breach", "tax.evasion"})
# Serial fare evaders: episodes per resident over the period (at density 1), each of
# 3 + Poisson(1) evasions inside `REPEAT_WITHIN` days, which fills the repeat-evader list.
REPEAT_EPISODES = 0.03
REPEAT_WITHIN = 330
COMMENDATION_LEVELS = ((30, 20, 10, 5, 3, 1, 1, 0.5), (2, 3, 8, 12, 20, 20, 20, 15))
UNTRUSTWORTHY_POINTS = ((-5, -10, -15, -20, -30, -50), (35, 25, 15, 12, 8, 5))
ARREARS_MONTHS = ((1, 2, 3, 4, 5, 6), (45, 25, 13, 8, 5, 4))
VOLUNTEER_HOURS = ((1, 2, 3, 4, 5, 6, 7, 8), (6, 14, 20, 22, 14, 10, 6, 8))

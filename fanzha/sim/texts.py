"""SMS texts of the simulated city: everyday messages, service notices and fraud lures.

Texts are rendered once into a pool per kind (slots filled from seeded choices) and
then sampled by index, so millions of SMS cost one ``take``. Fraud lures follow the
typologies in the seeds; their links point at the gang's domain.
"""

from __future__ import annotations

import numpy as np

from fanzha.contracts.vocab import Typology

_P2P = [
    "到了吗？我在{place}门口等你",
    "晚上回家吃饭吗",
    "明天{time}开会，别忘了带材料",
    "收到，谢谢",
    "孩子今天发烧了，我先带去医院",
    "周末一起去{place}爬山？",
    "好的，我马上到",
    "刚下班，路上有点堵",
    "妈，我这周末回去看你",
    "快递放{place}了，记得拿",
    "那个文件我已经发你邮箱了",
    "生日快乐！",
    "今天的菜价又涨了",
    "钥匙放在门口鞋柜里",
    "老地方见，{time}",
]
_PLACES = ["中山路", "湖里万达", "集美学村", "海沧湾公园", "同安影都", "翔安隧道口", "鼓浪屿码头", "SM广场", "厦大西门"]
_TIMES = ["上午9点", "下午2点", "下午3点半", "晚上7点", "明早8点"]

_BANK = [
    "【{bank}】您尾号{tail}的账户于{mm}月{dd}日收入人民币{amt}元，余额{bal}元。",
    "【{bank}】您尾号{tail}的卡{mm}月{dd}日消费支出{amt}元。",
    "【{bank}】验证码{code}，您正在进行转账操作，切勿告知他人。",
    "【{bank}】尊敬的客户，您的信用卡本期账单{amt}元，到期还款日{mm}月{dd}日。",
]
_SERVICE = [
    "【顺丰速运】您的快件已到{place}驿站，取件码{code}。",
    "【中国移动】您本月话费余额{amt}元，请及时充值。",
    "【美团】您的验证码是{code}，5分钟内有效。",
    "【厦门公安】国家反诈中心提醒：凡是让您转账到“安全账户”的都是诈骗！",
    "【12306】订单{code}已出票，请携带身份证乘车。",
]
_FRAUD: dict[Typology, list[str]] = {
    Typology.MEDICAL_INSURANCE_SMS: [
        "【医保中心】您的医保卡因异常已被停用，请于24小时内登录 {url} 办理解冻，逾期将影响报销。",
        "【国家医保】通知：您的医保账户存在违规刷卡，即将冻结，请点击 {url} 核实身份。",
        "医保局提醒：您的社保卡年审未通过，请尽快访问 {url} 重新认证，否则停用。",
    ],
    Typology.REBATE_TASK: [
        "【兼职】在家动动手指，点赞关注日结200-800元，加入任务群 {url}",
        "诚招刷单员，垫付返佣金，单单返利15%，当天提现，详情 {url}",
        "宝妈学生党兼职，时间自由，一单一结，佣金秒到，报名 {url}",
    ],
    Typology.FAKE_LOAN: [
        "【极速贷】您有一笔{amt}元额度待领取，无抵押秒到账，点击 {url} 领取。",
        "尊敬的用户，您已获得低息贷款资格，最高20万，征信不好也能贷 {url}",
        "【贷款通知】您的贷款已审批通过，需缴纳解冻金后放款，请登录 {url}",
    ],
    Typology.FAKE_CUSTOMER_SERVICE: [
        "【淘宝客服】您购买的商品质量问题，我们将双倍理赔，请联系退款专员 {url}",
        "您的快递丢失，快递公司将赔偿{amt}元，请点击 {url} 办理理赔。",
        "【抖音】您开通的百万保障会员即将扣费，如需取消请访问 {url}",
    ],
    Typology.IMPERSONATE_POLICE: [
        "【公安局】您涉嫌一起洗钱案件，请立即联系办案民警，案件编号{code}，查询 {url}",
        "【最高检察院】您的身份信息涉及非法集资，请登录 {url} 查看通缉令",
    ],
    Typology.PIG_BUTCHERING: [
        "哥哥，我舅舅在平台内部，今晚有个稳赚的机会，{url} 注册一下",
        "亲爱的，我刚在这个平台赚了{amt}，带你一起，{url}",
    ],
    Typology.IMPERSONATE_BOSS: [
        "我是张总，这是我新的QQ号，你马上加我，有事安排 {url}",
        "小王，我在开会不方便接电话，拉你进工作群 {url} 有急事",
    ],
}


def _fill(rng: np.random.Generator, template: str, url: str = "") -> str:
    return template.format(
        place=_PLACES[rng.integers(len(_PLACES))],
        time=_TIMES[rng.integers(len(_TIMES))],
        bank=["工商银行", "建设银行", "招商银行", "兴业银行", "厦门银行"][rng.integers(5)],
        tail=f"{rng.integers(10000):04d}",
        mm=int(rng.integers(1, 13)),
        dd=int(rng.integers(1, 29)),
        amt=f"{rng.integers(10, 50000)}.{rng.integers(100):02d}",
        bal=f"{rng.integers(100, 200000)}.{rng.integers(100):02d}",
        code=f"{rng.integers(1000000):06d}",
        url=url,
    )


def render_pool(rng: np.random.Generator, kind: str, size: int) -> list[str]:
    """A pool of ``size`` rendered texts: kind is ``p2p``, ``bank`` or ``service``."""
    templates = {"p2p": _P2P, "bank": _BANK, "service": _SERVICE}[kind]
    return [_fill(rng, templates[rng.integers(len(templates))]) for _ in range(size)]


def render_fraud(rng: np.random.Generator, typology: Typology, domain: str, size: int) -> list[str]:
    """Fraud lures of one typology pointing at the gang's domain."""
    templates = _FRAUD.get(typology, _FRAUD[Typology.FAKE_CUSTOMER_SERVICE])
    paths = ["", "/a", "/login", "/m/index.html", "/kf"]
    return [
        _fill(rng, templates[rng.integers(len(templates))], f"http://{domain}{paths[rng.integers(len(paths))]}")
        for _ in range(size)
    ]

//! Every errcode beian answers with, in one table.
//!
//! WeChat's codes keep WeChat's meaning. Where WeChat documents no code for a rule beian
//! enforces (e.g. the never-filed-subject rule), beian uses its own codes in the 869xx
//! range and marks them [`Origin::Beian`]. `docs/errcodes.md` is checked against this table
//! by a test, so the two cannot drift.

/// Where a code comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    WeChat,
    Beian,
}

/// One row of the table: the code, its default message (Chinese, for people) and its origin.
#[derive(Debug, Clone, Copy)]
pub struct Code {
    pub code: i64,
    pub errmsg: &'static str,
    pub origin: Origin,
}

macro_rules! codes {
    ($($name:ident = $code:expr, $origin:ident, $msg:expr;)*) => {
        $(pub const $name: i64 = $code;)*
        /// The whole table, in declaration order.
        pub const TABLE: &[Code] = &[$(Code { code: $code, errmsg: $msg, origin: Origin::$origin }),*];
    };
}

codes! {
    SYSTEM_ERROR = -1, WeChat, "system error";
    OK = 0, WeChat, "ok";
    FACE_TASK_NOT_FOUND = 1, WeChat, "code过期或不存在";
    INVALID_CREDENTIAL = 40001, WeChat, "invalid credential, access_token is invalid or not latest";
    INVALID_MEDIA_TYPE = 40004, WeChat, "invalid media type";
    INVALID_FILE_TYPE = 40005, WeChat, "invalid file type";
    INVALID_MEDIA_SIZE = 40006, WeChat, "invalid media size";
    INVALID_ACCESS_TOKEN = 40014, WeChat, "invalid access_token";
    INVALID_APPSECRET = 40125, WeChat, "invalid appsecret";
    INVALID_TICKET = 61006, WeChat, "component ticket is expired";
    NOT_AUTHORIZED = 61003, WeChat, "component is not authorized by this account";
    INVALID_AUTH_CODE = 61010, WeChat, "code is expired";
    INVALID_REFRESH_TOKEN = 61023, WeChat, "refresh_token is invalid";
    INVALID_ARGS = 40097, WeChat, "invalid args";
    ACCESS_TOKEN_MISSING = 41001, WeChat, "access_token missing";
    MEDIA_DATA_MISSING = 41005, WeChat, "media data missing";
    ACCESS_TOKEN_EXPIRED = 42001, WeChat, "access_token expired";
    REQUIRE_POST = 43002, WeChat, "require POST method";
    EMPTY_POST_DATA = 44002, WeChat, "empty post data";
    DAILY_QUOTA = 45009, WeChat, "reach max api daily quota limit";
    MINUTE_QUOTA = 45011, WeChat, "api minute-quota reach limit";
    DATA_FORMAT_ERROR = 47001, WeChat, "data format error";
    API_UNAUTHORIZED = 61007, WeChat, "api is unauthorized to component";
    APPLY_FAIL = 86202, WeChat, "apply icp filing fail";
    MEDIA_ID_INVALID = 86205, WeChat, "media_id不合法";
    CERT_VALIDITY = 86308, WeChat, "证件有效期不符合要求";
    UNDER_REVIEW = 86324, WeChat, "当前正在审核中，请勿重复提交";
    RESOURCE_NOT_FOUND = 86328, WeChat, "无法找到资源";
    NOT_WITHDRAWABLE = 86330, WeChat, "备案审核订单未处于可以撤回的状态";
    NOT_FILED_CANNOT_CANCEL = 86353, WeChat, "小程序未备案，不支持注销";
    NO_WITHDRAWABLE_ORDER = 86368, WeChat, "不存在可撤回的审核订单";
    ALREADY_FILED = 86901, Beian, "小程序已备案，无需重复申请；如需变更备案信息，请在备案控制台办理变更备案";
    WRONG_REVIEW_STATE = 86902, Beian, "备案订单当前状态不允许该操作";
    NO_CANCELLATION = 86903, Beian, "当前没有进行中的注销申请";
    CONFLICT = 86904, Beian, "备案订单已被其他操作修改，请刷新后重试";
    NOT_FILED_CANNOT_CHANGE = 86905, Beian, "小程序未备案，不能变更备案；请先申请备案";
    CHANGE_OPEN = 86906, Beian, "已有进行中的变更备案，请等待其完成或撤回后再操作";
    CHANGE_NOT_ALLOWED = 86907, Beian, "该项变更不能通过变更备案办理，请注销备案后重新申请";
    NOTHING_CHANGED = 86908, Beian, "变更内容与已备案信息一致，无需变更";
    ACCESS_NUMBER = 86909, Beian, "新增接入的备案号不正确，请核对已有的服务备案号";
    ENTRANCE_NOT_OPEN = 86910, Beian, "备案系统尚未开放";
    ENTRANCE_KEYWORD = 86911, Beian, "小程序名称命中限制关键词，暂不开放备案入口";
    ENTRANCE_AUTHORITY_DOWN = 86912, Beian, "管局备案系统维护中，暂不开放备案入口";
    ENTRANCE_INFO_MISSING = 86913, Beian, "小程序基本信息、类目或认证未完成，暂不能备案";
    UNKNOWN_APPID = 86915, Beian, "小程序不存在";
    NOT_FILED = 86916, Beian, "小程序未备案，暂无已备案信息";
    INVALID_INPUT = 86917, Beian, "参数不合法";
    NOT_SUPPORTED = 86918, Beian, "beian 暂不支持该接口";
    LISTING_GATE = 86919, Beian, "未完成备案的小程序不能上架";
    RATE_LIMITED = 86920, Beian, "请求过于频繁，请稍后再试";
    FIELD_REQUIRED = 86930, Beian, "必填字段为空";
    FIELD_FORMAT = 86931, Beian, "字段格式不正确";
    FIELD_DICT = 86932, Beian, "字段取值不在字典中";
    FIELD_RELATION = 86933, Beian, "字段之间不一致";
    FIELD_LENGTH = 86934, Beian, "字段长度不符合要求";
    FACE_TASK_INVALID = 86935, Beian, "人脸核身任务无效";
    PRINCIPAL_NOT_ADMIN = 86936, Beian, "负责人与小程序管理员不一致";
    SUBJECT_IN_PROGRESS = 86937, Beian, "该主体已有备案申请处理中，请等待申请完成后，再行发起备案申请";
    SUBJECT_CAP = 86938, Beian, "当前主体已超过小程序备案数量上限";
    ADDRESS_REPEATS_REGION = 86939, Beian, "通讯地址不要重复填写省市区";
    RULE_TABLE = 86940, Beian, "不符合备案规则表的要求（备案省份的要求或前置审批）";
}

/// The default message of a code, if the code is in the table.
pub fn message(code: i64) -> Option<&'static str> {
    TABLE.iter().find(|c| c.code == code).map(|c| c.errmsg)
}

/// The table as Markdown (`docs/errcodes.md` is this, checked by a test).
pub fn render_markdown() -> String {
    let mut out = String::from(
        "# Error codes\n\n\
         Every `errcode` beian answers with. **WeChat** codes keep WeChat's meaning \
         (`wechat-icp-api.md` §1.1, §8); **beian** codes are extensions for rules and states WeChat \
         does not document. Clients must match on `errcode`, never on `errmsg`: the messages below \
         are defaults, and most answers carry a more specific Chinese message saying what to fix.\n\n\
         Generated from `crates/beian-core/src/errcode.rs` (`UPDATE_SNAPSHOTS=1 cargo test -p beian-core` \
         rewrites this file).\n\n\
         | errcode | origin | default errmsg |\n|---:|---|---|\n",
    );
    for c in TABLE {
        let origin = match c.origin {
            Origin::WeChat => "WeChat",
            Origin::Beian => "beian",
        };
        out.push_str(&format!("| {} | {} | {} |\n", c.code, origin, c.errmsg));
    }
    out
}

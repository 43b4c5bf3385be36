//! The authority contract suite: what every implementation of the authority gateway
//! (`beian_ports::authority::AuthorityGateway`) must do for the platform, whatever drives it.
//! One suite, run against the in-process simulator, the simulator over the HTTP bridge (two
//! processes), and the manual desk driven through the staff console in headless Chromium.
//!
//! The platform side is the service under test (applications are filed through it and its
//! state is read back); the authority side is an [`AuthorityDriver`]: the controls of the
//! implementation under test — the simulator's verification page and settings, a bridge
//! peer's control API, an operator's forms on the desk. A driver only makes the authority do
//! something; the suite checks what the platform then shows.

use beian_core::model::AuditItem;
use beian_core::numbering::IssuedNumbers;
use std::future::Future;
use std::pin::Pin;

pub type DriverFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One operation as the authority received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub appid: String,
    /// `beian_ports::authority::Operation::kind` (`new_subject_and_service`, `cancel_service`…).
    pub kind: String,
    pub round: u32,
}

/// A record filed through another access provider, as the authority knows it (a new access
/// may connect it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownRecord {
    pub service_number: String,
    pub subject_name: String,
    pub certificate_number: String,
}

/// The controls of one authority implementation. Every method acts on the operation the
/// authority currently holds for `appid` and returns once the implementation took the step
/// (the platform may learn of it a moment later: the suite waits for the platform). A method
/// panics with context when the implementation cannot do it (a test failure).
pub trait AuthorityDriver: Send + Sync {
    /// For messages: `simulator`, `bridge`, `desk`.
    fn name(&self) -> String;
    /// Every operation received so far for `appid`, oldest first (one entry per distinct
    /// appid, kind and round: a repeated submission is not a second entry).
    fn received<'a>(&'a self, appid: &'a str) -> DriverFuture<'a, Vec<Received>>;
    /// The principals pass the SMS verification of the held operation.
    fn verify_sms<'a>(&'a self, appid: &'a str) -> DriverFuture<'a, ()>;
    /// The SMS window of the held operation closes unverified.
    fn expire_sms<'a>(&'a self, appid: &'a str) -> DriverFuture<'a, ()>;
    /// The authority approves the held filing; answers the numbers it issued.
    fn approve<'a>(&'a self, appid: &'a str) -> DriverFuture<'a, IssuedNumbers>;
    /// The authority approves with the numbers given (the suite checks that wrong ones are
    /// refused and change nothing). Answers whether the platform took them.
    fn approve_with<'a>(&'a self, appid: &'a str, numbers: &'a IssuedNumbers) -> DriverFuture<'a, bool>;
    /// The authority rejects the held filing with one reason.
    fn reject<'a>(&'a self, appid: &'a str, reason: &'a AuditItem) -> DriverFuture<'a, ()>;
    /// The principal confirms the held cancellation.
    fn confirm_cancel<'a>(&'a self, appid: &'a str) -> DriverFuture<'a, ()>;
    /// The authority refuses the held operation outright (`code`, `reason`).
    fn refuse<'a>(&'a self, appid: &'a str, code: &'a str, reason: &'a str) -> DriverFuture<'a, ()>;
    /// The authority knows `record` (filed through another provider). By default nothing: an
    /// operator at the manual desk looks the number up in the authority's own system.
    fn know_record<'a>(&'a self, _record: &'a KnownRecord) -> DriverFuture<'a, ()> {
        Box::pin(async {})
    }
}

/// What the suite needs of the platform under test: its service (applications are filed and
/// state is read through it) and the gateway its job worker uses (the suite hands it an
/// operation again, as a retried job does). The platform's job worker runs on its own; the
/// suite waits for it by polling, within [`WAIT`].
pub struct Platform {
    pub svc: std::sync::Arc<beian_service::Service>,
    pub gateway: std::sync::Arc<dyn beian_ports::authority::AuthorityGateway>,
}

/// How long the suite waits for the platform to show a step (the job worker, a bridge's
/// events over HTTP).
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Wait (bounded) until `cond` holds; panics naming `what`.
pub async fn wait_for<F, Fut>(what: &str, cond: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while start.elapsed() < WAIT {
        if cond().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Run every scenario of the contract, each on a fresh mini program (appids `wxct…`, admins
/// 61–69), against `driver`. Panics (a test failure) naming the driver and the step.
pub async fn run_contract(platform: &Platform, driver: &dyn AuthorityDriver) {
    let s = Suite { p: platform, d: driver };
    s.filed_with_the_authoritys_numbers_and_a_further_service_keeps_the_subject().await;
    s.a_repeated_submission_is_received_once_and_an_expired_sms_returns_the_order().await;
    s.a_rejection_shows_the_reason_to_the_developer().await;
    s.a_cancellation_is_confirmed().await;
    s.a_refusal_changes_nothing_and_is_audited().await;
    s.wrong_numbers_are_refused_and_change_nothing().await;
    s.a_new_access_is_confirmed_with_the_existing_number().await;
}

struct Suite<'a> {
    p: &'a Platform,
    d: &'a dyn AuthorityDriver,
}

use beian_core::state::{FilingState, SmsVerifyStatus};
use beian_service::Actor;

const WAITING: FilingState = FilingState::AuthorityReview { sms: SmsVerifyStatus::Waiting };
const VERIFIED: FilingState = FilingState::AuthorityReview { sms: SmsVerifyStatus::Done };

impl Suite<'_> {
    fn svc(&self) -> &beian_service::Service {
        &self.p.svc
    }

    async fn state(&self, appid: &str) -> FilingState {
        self.svc().filings().entrance_info(appid).await.expect("entrance info").state()
    }

    async fn wait_state(&self, appid: &str, want: FilingState) {
        let what = format!("[{}] {appid} to reach {want:?}", self.d.name());
        wait_for(&what, || async { self.state(appid).await == want }).await;
    }

    /// Register, apply, pass the platform's review: the submission reaches the authority.
    async fn to_authority(&self, appid: &str, n: u32, kind: &str) -> u32 {
        self.to_authority_as(appid, n, kind, None).await
    }

    /// As [`Suite::to_authority`]; with `access`, a new access (新增接入) of that number.
    async fn to_authority_as(&self, appid: &str, n: u32, kind: &str, access: Option<&str>) -> u32 {
        let svc = self.svc();
        let input = crate::fixtures::mini_program(
            appid,
            &format!("契约测试{n}"),
            &crate::fixtures::Identity::admin(n),
        );
        svc.mini_programs()
            .register_mini_program(&Actor::new("test", "contract"), input)
            .await
            .expect("register");
        let payload = crate::service::personal_payload(svc, appid, n).await;
        let actor = Actor::new("test", "contract");
        match access {
            Some(number) => svc.filings().apply_access(&actor, appid, number, payload).await.expect("access"),
            None => svc.filings().apply(&actor, appid, payload).await.expect("apply"),
        };
        svc.filings()
            .platform_approve(&Actor::new("test", "reviewer"), appid)
            .await
            .expect("platform approve");
        assert_eq!(self.state(appid).await, WAITING);
        let round = svc.filings().order(appid).await.expect("order").expect("an order").order.authority_round;
        let want = Received { appid: appid.into(), kind: kind.into(), round };
        let what = format!("[{}] the authority to receive {want:?}", self.d.name());
        wait_for(&what, || async { self.d.received(appid).await.contains(&want) }).await;
        round
    }

    async fn verified(&self, appid: &str) {
        self.d.verify_sms(appid).await;
        self.wait_state(appid, VERIFIED).await;
    }

    async fn numbers(&self, appid: &str) -> (Option<String>, Option<String>) {
        let o = self.svc().filings().order(appid).await.expect("order").expect("an order").order;
        (o.subject_record_number, o.service_record_number)
    }

    async fn filed_with_the_authoritys_numbers_and_a_further_service_keeps_the_subject(&self) {
        let name = self.d.name();
        self.to_authority("wxct0001", 61, "new_subject_and_service").await;
        self.verified("wxct0001").await;
        let issued = self.d.approve("wxct0001").await;
        self.wait_state("wxct0001", FilingState::Filed { canceling: false }).await;
        assert_eq!(
            self.numbers("wxct0001").await,
            (Some(issued.subject_number.clone()), Some(issued.service_number.clone())),
            "[{name}] filed with exactly the authority's numbers"
        );
        let found =
            self.svc().public_index().public_query(&issued.service_number).await.expect("public query");
        assert!(
            found.items.iter().any(|i| i.appid == "wxct0001"
                && i.subject_record_number == issued.subject_number
                && i.service_record_number == issued.service_number),
            "[{name}] the public query shows the numbers: {found:?}"
        );

        // A further service of the same subject: a new service number under the same subject.
        self.to_authority("wxct0002", 61, "new_service").await;
        self.verified("wxct0002").await;
        let second = self.d.approve("wxct0002").await;
        self.wait_state("wxct0002", FilingState::Filed { canceling: false }).await;
        assert_eq!(second.subject_number, issued.subject_number, "[{name}] the subject keeps its number");
        assert_ne!(second.service_number, issued.service_number, "[{name}] a service number of its own");
        assert_eq!(
            self.numbers("wxct0002").await,
            (Some(second.subject_number), Some(second.service_number))
        );
    }

    async fn a_repeated_submission_is_received_once_and_an_expired_sms_returns_the_order(&self) {
        let name = self.d.name();
        let round = self.to_authority("wxct0003", 62, "new_subject_and_service").await;
        let op =
            self.svc().filings().authority_submission("wxct0003", round).await.expect("op").expect("waiting");
        self.p.gateway.submit(op).await.expect("a repeated submission is accepted");
        let received = self.d.received("wxct0003").await;
        assert_eq!(received.len(), 1, "[{name}] a repeat is the same operation: {received:?}");
        self.d.expire_sms("wxct0003").await;
        self.wait_state("wxct0003", FilingState::AuthorityReview { sms: SmsVerifyStatus::TimedOut }).await;
    }

    async fn a_rejection_shows_the_reason_to_the_developer(&self) {
        let name = self.d.name();
        self.to_authority("wxct0004", 63, "new_subject_and_service").await;
        self.verified("wxct0004").await;
        let reason = AuditItem {
            key_name: "主体证件照片".into(),
            error: "契约测试：证件照片模糊".into(),
            suggest: "请重新上传清晰的证件照片".into(),
        };
        self.d.reject("wxct0004", &reason).await;
        self.wait_state("wxct0004", FilingState::AuthorityRejected).await;
        let info = self.svc().filings().entrance_info("wxct0004").await.expect("entrance info");
        assert!(
            info.audit_data.iter().any(|a| a.error == reason.error),
            "[{name}] the developer sees the authority's reason: {:?}",
            info.audit_data
        );
    }

    async fn a_cancellation_is_confirmed(&self) {
        self.to_authority("wxct0005", 64, "new_subject_and_service").await;
        self.verified("wxct0005").await;
        self.d.approve("wxct0005").await;
        self.wait_state("wxct0005", FilingState::Filed { canceling: false }).await;
        self.svc()
            .filings()
            .cancel(&Actor::new("test", "developer"), "wxct0005", Some(2), Some(1))
            .await
            .expect("cancel");
        assert_eq!(self.state("wxct0005").await, FilingState::Filed { canceling: true });
        let what = format!("[{}] the authority to receive the cancellation", self.d.name());
        wait_for(&what, || async {
            self.d.received("wxct0005").await.iter().any(|r| r.kind == "cancel_service")
        })
        .await;
        self.d.confirm_cancel("wxct0005").await;
        self.wait_state("wxct0005", FilingState::NotFiled).await;
        assert_eq!(self.numbers("wxct0005").await.1, None, "[{}] the service number is gone", self.d.name());
    }

    async fn a_refusal_changes_nothing_and_is_audited(&self) {
        let name = self.d.name();
        self.to_authority("wxct0006", 65, "new_subject_and_service").await;
        let before = self.svc().filings().order("wxct0006").await.expect("order").expect("order").order;
        self.d.refuse("wxct0006", "14", "契约测试：请先上传缺失的序号").await;
        let what = format!("[{name}] the refusal in the audit trail");
        wait_for(&what, || async {
            self.svc()
                .audit_trail(beian_core::model::AuditEntity::Filing, "wxct0006")
                .await
                .expect("audit")
                .iter()
                .any(|e| {
                    e.action == beian_core::model::AuditAction::AuthorityRefused.as_str()
                        && e.detail.to_string().contains("契约测试：请先上传缺失的序号")
                })
        })
        .await;
        let after = self.svc().filings().order("wxct0006").await.expect("order").expect("order").order;
        assert_eq!(
            (after.state, after.row_version),
            (before.state, before.row_version),
            "[{name}] order unchanged"
        );
    }

    async fn wrong_numbers_are_refused_and_change_nothing(&self) {
        let name = self.d.name();
        self.to_authority("wxct0007", 66, "new_subject_and_service").await;
        self.verified("wxct0007").await;
        let ctx = self.svc().filings().number_context("wxct0007").await.expect("context").expect("a subject");
        let abbr = if ctx.province_abbr == "京" { "沪" } else { "京" };
        let subject_number = beian_core::numbering::subject_number(abbr, 2026, 999_999);
        let wrong = IssuedNumbers {
            service_number: beian_core::numbering::service_number(&subject_number, 1),
            subject_number,
        };
        assert!(
            !self.d.approve_with("wxct0007", &wrong).await,
            "[{name}] numbers of another province are refused"
        );
        assert_eq!(self.state("wxct0007").await, VERIFIED, "[{name}] nothing changed");
        assert_eq!(self.numbers("wxct0007").await, (None, None), "[{name}] no number was taken");
    }

    async fn a_new_access_is_confirmed_with_the_existing_number(&self) {
        let name = self.d.name();
        let (appid, n, number) = ("wxct0008", 67, "粤ICP备2019000767号-1X");
        let who = crate::fixtures::Identity::admin(n);
        let record = KnownRecord {
            service_number: number.into(),
            subject_name: who.name.clone(),
            certificate_number: who.id_number.clone(),
        };
        self.d.know_record(&record).await;
        self.to_authority_as(appid, n, "new_access", Some(number)).await;
        self.verified(appid).await;
        let confirmed = self.d.approve(appid).await;
        self.wait_state(appid, FilingState::Filed { canceling: false }).await;
        let subject = beian_core::numbering::subject_of_service(number).map(str::to_string);
        assert_eq!(
            (Some(confirmed.subject_number), Some(confirmed.service_number)),
            (subject.clone(), Some(number.to_string())),
            "[{name}] confirmed with the record's own numbers"
        );
        assert_eq!(self.numbers(appid).await, (subject, Some(number.into())), "[{name}] no new number");
    }
}

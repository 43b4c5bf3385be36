//! The service's use cases grouped by aggregate. `Service` holds the shared state (store,
//! clock, policy, dictionaries, the seams); each aggregate is a borrowed view of it reached
//! through an accessor (`svc.filings().apply(..)`, `svc.providers().create_provider(..)`), so
//! no type carries every use case. A view dereferences to the `Service` it borrows: the use
//! cases reach the shared state and each other through it.

use crate::Service;
use std::ops::Deref;

macro_rules! aggregates {
    ($($(#[$doc:meta])* $name:ident => $accessor:ident;)*) => {
        $(
            $(#[$doc])*
            #[derive(Clone, Copy)]
            pub struct $name<'s> {
                svc: &'s Service,
            }

            impl Deref for $name<'_> {
                type Target = Service;
                fn deref(&self) -> &Service {
                    self.svc
                }
            }
        )*

        impl Service {
            $(
                $(#[$doc])*
                pub fn $accessor(&self) -> $name<'_> {
                    $name { svc: self }
                }
            )*
        }
    };
}

aggregates! {
    /// Mini programs and their admins: registration, host-platform events, listing, 站内信,
    /// webhook and notification preferences, personal-data export.
    MiniPrograms => mini_programs;
    /// Filing orders: status and entrance, apply, every transition, drafts, the authority's
    /// submissions and inbound events.
    Filings => filings;
    /// The materials of an application: uploaded media and face-verification tasks.
    Materials => materials;
    /// Service providers and their tokens: component tokens, pre-auth codes, authorizations,
    /// the authorizer callers.
    Providers => providers;
    /// Staff and platform review: staff members and sessions, the queue, claims, decisions,
    /// reasons.
    Review => review;
    /// Developer accounts, sessions, permission checks and tickets.
    Accounts => accounts;
    /// Signing developers in: the OpenID provider, the trusted header, local accounts (create,
    /// disable, passwords, reset links).
    SignIn => sign_in;
    /// A mini program's members: the admin's list, grants, e-mailed invitations.
    Memberships => memberships;
    /// The job queue: leasing, completing and dead-lettering jobs, the daily jobs, reminders,
    /// the clearance sweep, the development SMS outbox.
    JobQueue => job_queue;
    /// The public query index.
    PublicIndex => public_index;
    /// Operations: audit search, statistics, invariant checks, retention, shared rate counters.
    Operations => operations;
}

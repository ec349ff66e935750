//! One file per subcommand, each a struct with `execute`.

pub mod approve;
pub mod call;
pub mod check;
pub mod index;
pub mod inspect;
pub mod install;
pub mod key;
pub mod list;
pub mod publish;
pub mod rollback;
pub mod rollout;
pub mod serve;
pub mod sign;
pub mod status;
pub mod trust;
pub mod verify;

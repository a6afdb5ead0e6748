//! The rule ids of `docs/spec.md`, as the oracle reports them.
//!
//! Each constant names the section of the spec that defines the rule.

/// §1: a depth that does not fit the running callbacks, or a bad `within`.
pub const T_DEPTH: &str = "T-DEPTH";
/// §1: a callback nested where no hook or delivering action explains it.
pub const T_NESTED: &str = "T-NESTED";
/// §2: an id used before the event that introduces it.
pub const T_UNKNOWN_ID: &str = "T-UNKNOWN-ID";
/// §2: a connector, port or protocol id introduced twice.
pub const T_DUPLICATE_ID: &str = "T-DUPLICATE-ID";
/// §2: an event naming a connector or port with another factory.
pub const T_FACTORY: &str = "T-FACTORY";
/// §4, §6: a reason the callback may not carry.
pub const T_REASON: &str = "T-REASON";
/// §7: an event after `end`.
pub const T_AFTER_END: &str = "T-AFTER-END";

/// §3: a `do_start` its holder does not owe.
pub const F_DO_START: &str = "F-DO-START";
/// §3: `start_factory` missing right inside a first `do_start`, or out of place.
pub const F_START_HOOK: &str = "F-START-HOOK";
/// §3: a `do_stop` its holder does not owe.
pub const F_DO_STOP: &str = "F-DO-STOP";
/// §3: `stop_factory` missing right inside a last `do_stop`, or out of place.
pub const F_STOP_HOOK: &str = "F-STOP-HOOK";
/// §3 N2: Twisted's second `do_stop` after a nested retry failed (strict only).
pub const F_DOUBLE_STOP: &str = "F-DOUBLE-STOP";
/// §7: a connector that owes `do_stop` at `end`.
pub const F_UNSTOPPED: &str = "F-UNSTOPPED";

/// §4: `started_connecting` out of its place in the attempt.
pub const C_STARTED: &str = "C-STARTED";
/// §4: an outcome (or `build_protocol`) before `started_connecting`, or before any build.
pub const C_OUTCOME_ORDER: &str = "C-OUTCOME-ORDER";
/// §4: a second outcome for one attempt.
pub const C_ONE_OUTCOME: &str = "C-ONE-OUTCOME";
/// §4: a cancelled attempt that did not end in `client_connection_failed(user_cancelled)`.
pub const C_CANCEL: &str = "C-CANCEL";
/// §4: `client_connection_lost` with another reason than the connection's.
pub const C_LOST_REASON: &str = "C-LOST-REASON";
/// §4: `client_connection_lost` after a `build_protocol` that raised.
pub const C_BUILD_OUTCOME: &str = "C-BUILD-OUTCOME";
/// §4: `client_connection_lost` before the protocol's `connection_lost`.
pub const C_LOST_ORDER: &str = "C-LOST-ORDER";
/// §4: `connect` while the connector owes `do_stop`.
pub const C_RETRY: &str = "C-RETRY";
/// §4: `connect` or `stop_connecting` in a state where Twisted raises.
pub const C_CONNECT_STATE: &str = "C-CONNECT-STATE";
/// §7: a connector neither resolved nor stuck at `end`.
pub const C_UNRESOLVED: &str = "C-UNRESOLVED";

/// §5: `build_protocol` on a port before its `do_start` or after its `do_stop`.
pub const S_BUILD: &str = "S-BUILD";
/// §7: a started port without `do_stop` at `end`.
pub const S_UNSTOPPED: &str = "S-UNSTOPPED";

/// §6: `connection_made` twice, or for a protocol never built.
pub const P_MADE: &str = "P-MADE";
/// §6: a transport callback other than `connection_lost` after a callback raised.
pub const P_RAISED: &str = "P-RAISED";
/// §6: a transport callback after `connection_lost`.
pub const P_AFTER_LOST: &str = "P-AFTER-LOST";
/// §6: a second `connection_lost`.
pub const P_LOST_TWICE: &str = "P-LOST-TWICE";
/// §6: a transport callback before `connection_made`.
pub const P_BEFORE_MADE: &str = "P-BEFORE-MADE";
/// §6: `data_received` with no bytes.
pub const P_EMPTY_DATA: &str = "P-EMPTY-DATA";
/// §7: a made protocol without `connection_lost` at `end`.
pub const P_UNLOST: &str = "P-UNLOST";
/// §6: data or a second `read_connection_lost` after `read_connection_lost`.
pub const H_READ_CLOSED: &str = "H-READ-CLOSED";
/// §6: `write_connection_lost` twice, or without `lose_write_connection`.
pub const H_WRITE_CLOSED: &str = "H-WRITE-CLOSED";

/// §6: `connection_lost` while a producer is still registered.
pub const PR_STOP_FIRST: &str = "PR-STOP-FIRST";
/// §6: `register_producer` while one is registered.
pub const PR_REGISTER: &str = "PR-REGISTER";
/// §6: a producer callback with no producer to receive it.
pub const PR_CALLBACK: &str = "PR-CALLBACK";

/// Every rule id above, in the order of the spec.
pub const ALL: &[&str] = &[
    T_DEPTH,
    T_NESTED,
    T_UNKNOWN_ID,
    T_DUPLICATE_ID,
    T_FACTORY,
    T_REASON,
    T_AFTER_END,
    F_DO_START,
    F_START_HOOK,
    F_DO_STOP,
    F_STOP_HOOK,
    F_DOUBLE_STOP,
    F_UNSTOPPED,
    C_STARTED,
    C_OUTCOME_ORDER,
    C_ONE_OUTCOME,
    C_CANCEL,
    C_LOST_REASON,
    C_BUILD_OUTCOME,
    C_LOST_ORDER,
    C_RETRY,
    C_CONNECT_STATE,
    C_UNRESOLVED,
    S_BUILD,
    S_UNSTOPPED,
    P_MADE,
    P_RAISED,
    P_AFTER_LOST,
    P_LOST_TWICE,
    P_BEFORE_MADE,
    P_EMPTY_DATA,
    P_UNLOST,
    H_READ_CLOSED,
    H_WRITE_CLOSED,
    PR_STOP_FIRST,
    PR_REGISTER,
    PR_CALLBACK,
];

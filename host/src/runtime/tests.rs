//! Runtime tests on inline WAT components: calls by name, limits, linking and the
//! compile cache.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;
use crate::manifest::{CallMode, Manifest};

/// A component with an interface of small functions, a second interface that shares
/// one name (for ambiguity) and a counter that shows whether instances are reused.
const DEMO: &str = r#"
(component
  (core module $m
    (memory (export "mem") 1)
    (global $bump (mut i32) (i32.const 1024))
    (global $count (mut i32) (i32.const 0))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $bump) (i32.const 7)) (i32.const -8)))
      (global.set $bump (i32.add (local.get $p) (local.get 3)))
      (local.get $p))
    (func (export "add") (param i32 i32) (result i32)
      (i32.add (local.get 0) (local.get 1)))
    (func (export "echo") (param i32 i32) (result i32)
      (i32.store (i32.const 16) (local.get 0))
      (i32.store (i32.const 20) (local.get 1))
      (i32.const 16))
    (func (export "count") (result i32)
      (global.set $count (i32.add (global.get $count) (i32.const 1)))
      (global.get $count))
    (func (export "crash") unreachable)
    (func (export "spin") (loop $l (br $l)))
    (func (export "hog") (result i32)
      (loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
      (i32.const 0))
  )
  (core instance $i (instantiate $m))
  (func $add (param "a" u32) (param "b" u32) (result u32) (canon lift (core func $i "add")))
  (func $echo (param "s" string) (result string)
    (canon lift (core func $i "echo") (memory $i "mem") (realloc (func $i "realloc"))))
  (func $count (result u32) (canon lift (core func $i "count")))
  (func $crash (canon lift (core func $i "crash")))
  (func $spin (canon lift (core func $i "spin")))
  (func $hog (result u32) (canon lift (core func $i "hog")))
  (instance $api
    (export "add" (func $add))
    (export "echo" (func $echo))
    (export "count" (func $count))
    (export "crash" (func $crash))
    (export "spin" (func $spin))
    (export "hog" (func $hog)))
  (export "test:demo/api@1.0.0" (instance $api))
  (instance $other (export "add" (func $add)))
  (export "test:demo/other@1.0.0" (instance $other))
)
"#;

/// Uses `anya:host/log` and `anya:host/kv` through the host's linker.
const HOST_USER: &str = r#"
(component
  (import "anya:host/log@1.0.0" (instance $log
    (type $level (enum "trace" "debug" "info" "warn" "error"))
    (export "level" (type $lvl (eq $level)))
    (export "log" (func (param "level" $lvl) (param "message" string)))))
  (import "anya:host/kv@1.0.0" (instance $kv
    (type $error (variant (case "invalid-key" string) (case "quota-exceeded" string) (case "storage" string)))
    (export "error" (type $err (eq $error)))
    (type $get-result (result (option (list u8)) (error $err)))
    (export "get" (func (param "key" string) (result $get-result)))
    (type $set-result (result (error $err)))
    (export "set" (func (param "key" string) (param "value" (list u8)) (result $set-result)))))
  (core module $libc
    (memory (export "mem") 1)
    (global $bump (mut i32) (i32.const 4096))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $bump) (i32.const 7)) (i32.const -8)))
      (global.set $bump (i32.add (local.get $p) (local.get 3)))
      (local.get $p)))
  (core instance $libc (instantiate $libc))
  (alias export $log "log" (func $log-log))
  (alias export $kv "get" (func $kv-get))
  (alias export $kv "set" (func $kv-set))
  (core func $log-core (canon lower (func $log-log) (memory $libc "mem")))
  (core func $get-core (canon lower (func $kv-get) (memory $libc "mem") (realloc (func $libc "realloc"))))
  (core func $set-core (canon lower (func $kv-set) (memory $libc "mem") (realloc (func $libc "realloc"))))
  (core module $m
    (import "libc" "mem" (memory 1))
    (import "host" "log" (func $log (param i32 i32 i32)))
    (import "host" "get" (func $get (param i32 i32 i32)))
    (import "host" "set" (func $set (param i32 i32 i32 i32 i32)))
    (data (i32.const 0) "key")
    (data (i32.const 8) "hello")
    ;; kv.set("key", `len` bytes from offset 8): 0 on ok, 1 + the error case otherwise.
    (func (export "put") (param $len i32) (result i32)
      (call $set (i32.const 0) (i32.const 3) (i32.const 8) (local.get $len) (i32.const 64))
      (if (result i32) (i32.eqz (i32.load8_u (i32.const 64)))
        (then (i32.const 0))
        (else (i32.add (i32.const 1) (i32.load8_u (i32.const 68))))))
    ;; The length of kv.get("key"): -1 when absent, -2 on error.
    (func (export "get-len") (result i32)
      (call $get (i32.const 0) (i32.const 3) (i32.const 96))
      (if (result i32) (i32.load8_u (i32.const 96))
        (then (i32.const -2))
        (else (if (result i32) (i32.load8_u (i32.const 100))
          (then (i32.load (i32.const 108)))
          (else (i32.const -1))))))
    (func (export "say") (call $log (i32.const 2) (i32.const 8) (i32.const 5))))
  (core instance $i (instantiate $m
    (with "libc" (instance $libc))
    (with "host" (instance
      (export "log" (func $log-core))
      (export "get" (func $get-core))
      (export "set" (func $set-core))))))
  (func (export "put") (param "len" u32) (result u32) (canon lift (core func $i "put")))
  (func (export "get-len") (result s32) (canon lift (core func $i "get-len")))
  (func (export "say") (canon lift (core func $i "say")))
)
"#;

/// Counts the environment variables and arguments WASI hands the guest.
const WASI_PROBE: &str = r#"
(component
  (import "wasi:cli/environment@0.2.0" (instance $env
    (export "get-environment" (func (result (list (tuple string string)))))
    (export "get-arguments" (func (result (list string))))))
  (core module $libc
    (memory (export "mem") 1)
    (global $bump (mut i32) (i32.const 4096))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $bump) (i32.const 7)) (i32.const -8)))
      (global.set $bump (i32.add (local.get $p) (local.get 3)))
      (local.get $p)))
  (core instance $libc (instantiate $libc))
  (alias export $env "get-environment" (func $get-env))
  (alias export $env "get-arguments" (func $get-args))
  (core func $env-core (canon lower (func $get-env) (memory $libc "mem") (realloc (func $libc "realloc"))))
  (core func $args-core (canon lower (func $get-args) (memory $libc "mem") (realloc (func $libc "realloc"))))
  (core module $m
    (import "libc" "mem" (memory 1))
    (import "wasi" "env" (func $env (param i32)))
    (import "wasi" "args" (func $args (param i32)))
    (func (export "count") (result i32)
      (call $env (i32.const 0))
      (call $args (i32.const 8))
      (i32.add (i32.load (i32.const 4)) (i32.load (i32.const 12)))))
  (core instance $i (instantiate $m
    (with "libc" (instance $libc))
    (with "wasi" (instance (export "env" (func $env-core)) (export "args" (func $args-core))))))
  (func (export "count") (result u32) (canon lift (core func $i "count")))
)
"#;

/// Imports an interface no host provides.
const NEEDS_MISSING: &str = r#"
(component
  (import "acme:nope/missing@1.0.0" (instance (export "f" (func))))
)
"#;

fn package(wat: &str, name: &str) -> VerifiedPackage {
    let manifest = Manifest::parse(&format!(
        "name = \"{name}\"\nversion = \"1.0.0\"\nupdate_type = \"feature\"\n"
    ))
    .unwrap();
    VerifiedPackage::new(Arc::from(wat.as_bytes()), manifest, vec![])
}

fn runtime(dir: &Path, limits: Limits) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: dir.to_owned(),
        limits,
    })
    .unwrap()
}

fn ctx() -> CallContext {
    CallContext::in_memory(ComponentName::parse("demo").unwrap())
}

fn demo(limits: Limits) -> (tempfile::TempDir, Runtime, Arc<LoadedComponent>) {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), limits);
    let loaded = rt.load(&package(DEMO, "demo")).unwrap();
    (dir, rt, loaded)
}

/// The host still serves calls after a failed one.
fn assert_alive(rt: &Runtime, loaded: &LoadedComponent) {
    let sum = rt.call(loaded, &ctx(), "api.add", json!([2, 3])).unwrap();
    assert_eq!(sum, json!(5));
}

#[test]
fn calls_by_name_convert_json_both_ways() {
    let (_dir, rt, loaded) = demo(Limits::default());
    let ctx = ctx();
    assert_eq!(
        rt.call(&loaded, &ctx, "echo", json!("héllo")).unwrap(),
        json!("héllo")
    );
    // A one-parameter function also takes its argument wrapped in an array.
    assert_eq!(
        rt.call(&loaded, &ctx, "echo", json!(["x"])).unwrap(),
        json!("x")
    );
    for name in [
        "api.add",
        "test:demo/api#add",
        "test:demo/api@1.0.0#add",
        "other.add",
    ] {
        assert_eq!(
            rt.call(&loaded, &ctx, name, json!([40, 2])).unwrap(),
            json!(42),
            "{name}"
        );
    }
    assert_eq!(
        rt.call(&loaded, &ctx, "api.add", json!({"a": 1, "b": 2}))
            .unwrap(),
        json!(3)
    );

    match rt.call(&loaded, &ctx, "add", json!([1, 2])) {
        Err(CallError::Ambiguous { candidates, .. }) => assert_eq!(
            candidates,
            ["test:demo/api@1.0.0#add", "test:demo/other@1.0.0#add"]
        ),
        other => panic!("expected ambiguity, got {other:?}"),
    }
    match rt.call(&loaded, &ctx, "nope", Value::Null) {
        Err(CallError::NoSuchFunction { available, .. }) => {
            assert!(available.contains(&"test:demo/api@1.0.0#echo".to_owned()));
        }
        other => panic!("expected no such function, got {other:?}"),
    }
    for bad in [
        json!([1]),
        json!([1, -1]),
        json!([1, 2, 3]),
        json!({"a": 1}),
        json!("1"),
    ] {
        match rt.call(&loaded, &ctx, "api.add", bad.clone()) {
            Err(CallError::BadArguments { reason, .. }) => assert!(!reason.is_empty()),
            other => panic!("{bad}: expected bad arguments, got {other:?}"),
        }
    }
    let err = rt
        .call(&loaded, &ctx, "api.add", json!([1, -1]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"b\"") && err.contains("out of range for u32"),
        "{err}"
    );
}

#[test]
fn every_call_gets_a_fresh_instance() {
    let (_dir, rt, loaded) = demo(Limits::default());
    for _ in 0..3 {
        assert_eq!(
            rt.call(&loaded, &ctx(), "count", Value::Null).unwrap(),
            json!(1)
        );
    }
}

/// Reads and bumps a word in its first page and one in a page it grows: what a call
/// leaves behind in linear memory.
const MEMORY_MARK: &str = r#"
(component
  (core module $m
    (memory (export "mem") 1)
    (func (export "mark") (result i32)
      (local $seen i32)
      (local.set $seen (i32.load (i32.const 100)))
      (i32.store (i32.const 100) (i32.add (local.get $seen) (i32.const 1)))
      (if (i32.eq (memory.size) (i32.const 1))
        (then (drop (memory.grow (i32.const 1)))))
      (local.set $seen (i32.add (local.get $seen) (i32.load (i32.const 65544))))
      (i32.store (i32.const 65544) (i32.const 7))
      (local.get $seen)))
  (core instance $i (instantiate $m))
  (func (export "mark") (result u32) (canon lift (core func $i "mark")))
)
"#;

/// The pool keeps memory resident between instances (a fresh call is much cheaper so);
/// its contents must still be reset: a fresh call sees nothing any earlier call wrote,
/// in its initial page or in a page it grew, whichever slot it is given.
#[test]
fn a_fresh_call_sees_nothing_an_earlier_call_left_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Limits::default());
    let loaded = rt.load(&package(MEMORY_MARK, "mark")).unwrap();
    let warm = ctx().with_mode(CallMode::Warm);
    // The test can see leftovers: a warm instance keeps them (1 + 7 on its second call).
    assert_eq!(
        rt.call(&loaded, &warm, "mark", Value::Null).unwrap(),
        json!(0)
    );
    assert_eq!(
        rt.call(&loaded, &warm, "mark", Value::Null).unwrap(),
        json!(8)
    );
    for i in 0..40 {
        assert_eq!(
            rt.call(&loaded, &ctx(), "mark", Value::Null).unwrap(),
            json!(0),
            "fresh call {i} saw what an earlier one wrote"
        );
    }
}

#[test]
fn exports_and_imports_come_from_the_component_type() {
    let (_dir, _rt, loaded) = demo(Limits::default());
    let exports = loaded.exports();
    let echo = exports
        .iter()
        .find(|f| f.name == "echo")
        .expect("echo is exported");
    assert_eq!(echo.interface, "test:demo/api@1.0.0");
    assert_eq!(echo.params, [("s".to_owned(), "string".to_owned())]);
    assert_eq!(echo.results, "string");
    let crash = exports.iter().find(|f| f.name == "crash").unwrap();
    assert_eq!(crash.results, "");
    assert_eq!(exports.len(), 7);
    assert!(loaded.imports().is_empty());
    assert_eq!(loaded.manifest().name.as_str(), "demo");
    assert_eq!(loaded.digest(), crate::ids::Digest::of(DEMO.as_bytes()));
}

#[test]
fn a_trap_is_a_trap_error_and_the_host_survives() {
    let (_dir, rt, loaded) = demo(Limits::default());
    match rt.call(&loaded, &ctx(), "crash", Value::Null) {
        Err(CallError::Trap {
            reason, function, ..
        }) => {
            assert!(reason.contains("unreachable"), "{reason}");
            assert_eq!(function, "test:demo/api@1.0.0#crash");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_alive(&rt, &loaded);
}

#[test]
fn an_infinite_loop_runs_out_of_fuel() {
    let (_dir, rt, loaded) = demo(Limits {
        fuel: 1_000_000,
        deadline: Duration::from_secs(600),
        ..Limits::default()
    });
    match rt.call(&loaded, &ctx(), "spin", Value::Null) {
        Err(CallError::OutOfFuel { fuel, .. }) => assert_eq!(fuel, 1_000_000),
        other => panic!("expected out of fuel, got {other:?}"),
    }
    assert_alive(&rt, &loaded);
}

#[test]
fn an_infinite_loop_hits_the_deadline() {
    let deadline = Duration::from_millis(100);
    let (_dir, rt, loaded) = demo(Limits {
        fuel: u64::MAX,
        deadline,
        ..Limits::default()
    });
    let start = Instant::now();
    match rt.call(&loaded, &ctx(), "spin", Value::Null) {
        Err(CallError::DeadlineExceeded { deadline: d, .. }) => assert_eq!(d, deadline),
        other => panic!("expected a deadline error, got {other:?}"),
    }
    let took = start.elapsed();
    assert!(
        took >= deadline && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_alive(&rt, &loaded);
}

#[test]
fn memory_growth_stops_at_the_limit() {
    let (_dir, rt, loaded) = demo(Limits {
        memory_bytes: 1 << 20,
        ..Limits::default()
    });
    match rt.call(&loaded, &ctx(), "hog", Value::Null) {
        Err(CallError::MemoryLimit { limit, desired, .. }) => {
            assert_eq!(limit, 1 << 20);
            assert!(desired > limit);
        }
        other => panic!("expected a memory limit error, got {other:?}"),
    }
    assert_alive(&rt, &loaded);
}

#[test]
fn results_over_the_json_limit_are_refused() {
    let (_dir, rt, loaded) = demo(Limits {
        result_json_bytes: 8,
        ..Limits::default()
    });
    assert_eq!(
        rt.call(&loaded, &ctx(), "echo", json!("short")).unwrap(),
        json!("short")
    );
    match rt.call(&loaded, &ctx(), "echo", json!("much too long")) {
        Err(CallError::ResultTooLarge { len, limit, .. }) => assert_eq!((len, limit), (15, 8)),
        other => panic!("expected result too large, got {other:?}"),
    }
}

#[test]
fn an_unsatisfiable_import_fails_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Limits::default());
    let err = rt.load(&package(NEEDS_MISSING, "needy")).unwrap_err();
    assert!(matches!(err, RuntimeError::Link { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.starts_with("needy 1.0.0: cannot link"), "{text}");
    assert!(text.contains("acme:nope/missing@1.0.0"), "{text}");
}

#[test]
fn bytes_that_are_not_a_component_fail_to_compile() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Limits::default());
    let err = rt.load(&package("(module)", "core")).unwrap_err();
    assert!(matches!(err, RuntimeError::Compile { .. }), "{err:?}");
}

#[test]
fn the_host_api_is_linked_with_its_limits() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(
        dir.path(),
        Limits {
            kv_value_bytes: 16,
            ..Limits::default()
        },
    );
    let loaded = rt.load(&package(HOST_USER, "host-user")).unwrap();
    let mut imports = loaded.imports();
    imports.sort();
    assert_eq!(imports, ["anya:host/kv@1.0.0", "anya:host/log@1.0.0"]);
    let ctx = ctx();
    rt.call(&loaded, &ctx, "say", Value::Null).unwrap();
    assert_eq!(
        rt.call(&loaded, &ctx, "get-len", Value::Null).unwrap(),
        json!(-1)
    );
    assert_eq!(rt.call(&loaded, &ctx, "put", json!(5)).unwrap(), json!(0));
    // The value outlives the instance that wrote it: it lives in the context's kv.
    assert_eq!(
        rt.call(&loaded, &ctx, "get-len", Value::Null).unwrap(),
        json!(5)
    );
    assert_eq!(ctx.kv.get("key").unwrap().as_deref(), Some(&b"hello"[..]));
    // 17 bytes is over the limit: `quota-exceeded` (case 1) comes back, not a trap.
    assert_eq!(rt.call(&loaded, &ctx, "put", json!(17)).unwrap(), json!(2));
    assert_eq!(
        rt.call(&loaded, &ctx, "get-len", Value::Null).unwrap(),
        json!(5)
    );
}

#[test]
fn wasi_gives_no_environment_or_arguments() {
    // The test process has both (PATH, the test filter...): none may reach the guest.
    assert!(std::env::vars().next().is_some() && std::env::args().next().is_some());
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Limits::default());
    let loaded = rt.load(&package(WASI_PROBE, "probe")).unwrap();
    assert_eq!(
        rt.call(&loaded, &ctx(), "count", Value::Null).unwrap(),
        json!(0)
    );
}

#[test]
fn loads_compile_once_and_come_from_cache_in_a_new_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = package(DEMO, "demo");
    let first = runtime(dir.path(), Limits::default());
    let a = first.load(&pkg).unwrap();
    assert_eq!(a.origin(), Origin::Compiled);
    // The same runtime hands out the same compiled component.
    assert!(Arc::ptr_eq(&a, &first.load(&pkg).unwrap()));

    let second = runtime(dir.path(), Limits::default());
    let b = second.load(&pkg).unwrap();
    assert_eq!(b.origin(), Origin::Cached);
    assert_eq!(
        second.call(&b, &ctx(), "echo", json!("cached")).unwrap(),
        json!("cached")
    );
}

#[test]
fn a_tampered_cache_file_is_deleted_and_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = package(DEMO, "demo");
    runtime(dir.path(), Limits::default()).load(&pkg).unwrap();
    let cwasm = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .expect("a compiled file was cached");
    assert!(
        cwasm
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(&pkg.digest().to_hex())
    );
    let good = std::fs::read(&cwasm).unwrap();
    let mut bad = good.clone();
    let middle = bad.len() / 2;
    bad[middle] ^= 0x40;
    std::fs::write(&cwasm, &bad).unwrap();

    let rt = runtime(dir.path(), Limits::default());
    let loaded = rt.load(&pkg).unwrap();
    assert_eq!(loaded.origin(), Origin::Compiled);
    assert_eq!(
        rt.call(&loaded, &ctx(), "echo", json!("fresh")).unwrap(),
        json!("fresh")
    );
    // The tampered file was replaced by a good one, which the next runtime trusts.
    assert_ne!(std::fs::read(&cwasm).unwrap(), bad);
    let again = runtime(dir.path(), Limits::default()).load(&pkg).unwrap();
    assert_eq!(again.origin(), Origin::Cached);
}

#[test]
fn runtime_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Runtime>();
    check::<LoadedComponent>();
    check::<CallContext>();
}

fn warm_ctx() -> CallContext {
    ctx().with_mode(CallMode::Warm)
}

/// The counter of the demo's warm instance after one more call.
fn count(rt: &Runtime, loaded: &LoadedComponent, ctx: &CallContext) -> Value {
    rt.call(loaded, ctx, "count", Value::Null).unwrap()
}

#[test]
fn warm_calls_reuse_a_live_instance() {
    let (_dir, rt, loaded) = demo(Limits::default());
    let warm = warm_ctx();
    assert_eq!(
        loaded.warm_pool_idle(),
        0,
        "instances are made by the first call"
    );
    for expected in 1..=5 {
        assert_eq!(count(&rt, &loaded, &warm), json!(expected));
    }
    assert_eq!(loaded.warm_pool_idle(), 1);
    // Fresh calls on the same version stay isolated from the warm instance.
    assert_eq!(count(&rt, &loaded, &ctx()), json!(1));
    assert_eq!(count(&rt, &loaded, &warm), json!(6));
}

#[test]
fn any_failure_inside_the_guest_recycles_the_warm_instance() {
    let (_dir, rt, loaded) = demo(Limits {
        fuel: 10_000_000,
        memory_bytes: 1 << 20,
        ..Limits::default()
    });
    let ctx = warm_ctx();
    for failing in ["crash", "spin", "hog"] {
        assert_eq!(count(&rt, &loaded, &ctx), json!(1), "before {failing}");
        assert_eq!(count(&rt, &loaded, &ctx), json!(2), "before {failing}");
        let err = rt.call(&loaded, &ctx, failing, Value::Null).unwrap_err();
        match (failing, &err) {
            ("crash", CallError::Trap { .. })
            | ("spin", CallError::OutOfFuel { .. })
            | ("hog", CallError::MemoryLimit { .. }) => {}
            _ => panic!("{failing}: unexpected {err:?}"),
        }
        assert_eq!(
            loaded.warm_pool_idle(),
            0,
            "{failing}: the instance was kept"
        );
    }
    assert_eq!(count(&rt, &loaded, &ctx), json!(1));
    // A call refused before it reaches the guest does not cost the instance.
    assert!(matches!(
        rt.call(&loaded, &ctx, "api.add", json!([1])),
        Err(CallError::BadArguments { .. })
    ));
    assert_eq!(count(&rt, &loaded, &ctx), json!(2));
}

#[test]
fn a_warm_instance_is_replaced_after_its_last_use() {
    let (_dir, rt, loaded) = demo(Limits {
        warm_max_uses: 3,
        ..Limits::default()
    });
    let ctx = warm_ctx();
    let counts: Vec<Value> = (0..7).map(|_| count(&rt, &loaded, &ctx)).collect();
    assert_eq!(counts, [1, 2, 3, 1, 2, 3, 1].map(|n| json!(n)));
}

#[test]
fn every_warm_call_gets_the_whole_fuel_budget() {
    // Far too little fuel for a hundred calls, enough for one.
    let (_dir, rt, loaded) = demo(Limits {
        fuel: 200,
        ..Limits::default()
    });
    let ctx = warm_ctx();
    for expected in 1..=100 {
        assert_eq!(count(&rt, &loaded, &ctx), json!(expected));
    }
    match rt.call(&loaded, &ctx, "spin", Value::Null) {
        Err(CallError::OutOfFuel { fuel, .. }) => assert_eq!(fuel, 200),
        other => panic!("expected out of fuel, got {other:?}"),
    }
    assert_eq!(count(&rt, &loaded, &ctx), json!(1));
}

#[test]
fn the_deadline_of_a_warm_call_runs_from_the_call() {
    let deadline = Duration::from_millis(100);
    let (_dir, rt, loaded) = demo(Limits {
        fuel: u64::MAX,
        deadline,
        ..Limits::default()
    });
    let ctx = warm_ctx();
    assert_eq!(count(&rt, &loaded, &ctx), json!(1));
    // The instance is older than its deadline now; the next call still has all of it.
    std::thread::sleep(deadline * 2);
    assert_eq!(count(&rt, &loaded, &ctx), json!(2));
    let start = Instant::now();
    match rt.call(&loaded, &ctx, "spin", Value::Null) {
        Err(CallError::DeadlineExceeded { deadline: d, .. }) => assert_eq!(d, deadline),
        other => panic!("expected a deadline error, got {other:?}"),
    }
    let took = start.elapsed();
    assert!(
        took >= deadline && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(count(&rt, &loaded, &ctx), json!(1));
}

#[test]
fn a_warm_instance_gets_each_callers_key_value_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Limits::default());
    let loaded = rt.load(&package(HOST_USER, "host-user")).unwrap();
    let a = warm_ctx();
    let b = warm_ctx();
    assert_eq!(rt.call(&loaded, &a, "put", json!(5)).unwrap(), json!(0));
    assert_eq!(loaded.warm_pool_idle(), 1);
    // The same live instance serves `b`, which must not see `a`'s data.
    assert_eq!(
        rt.call(&loaded, &b, "get-len", Value::Null).unwrap(),
        json!(-1)
    );
    assert_eq!(
        rt.call(&loaded, &a, "get-len", Value::Null).unwrap(),
        json!(5)
    );
    assert_eq!(loaded.warm_pool_idle(), 1);
    assert_eq!(b.kv.list_keys().unwrap(), Vec::<String>::new());
}

#[test]
fn concurrent_warm_calls_all_succeed_and_the_pool_stays_small() {
    let (_dir, rt, loaded) = demo(Limits {
        warm_pool_size: 2,
        warm_max_uses: 50,
        ..Limits::default()
    });
    let threads = 8;
    let calls = 200;
    std::thread::scope(|s| {
        for t in 0..threads {
            let (rt, loaded) = (&rt, &loaded);
            s.spawn(move || {
                let ctx = warm_ctx();
                for i in 0..calls {
                    let sum = rt.call(loaded, &ctx, "api.add", json!([t, i])).unwrap();
                    assert_eq!(sum, json!(t + i));
                    let n = count(rt, loaded, &ctx).as_u64().unwrap();
                    // Each instance serves at most 50 calls, counting the `add`s.
                    assert!((1..=50).contains(&n), "{n}");
                }
            });
        }
    });
    // The last instances back may all have been retired at 50 uses, leaving the pool
    // empty (CI saw it once); a call then makes a fresh one, which stays.
    if loaded.warm_pool_idle() == 0 {
        count(&rt, &loaded, &warm_ctx());
    }
    let idle = loaded.warm_pool_idle();
    assert!((1..=2).contains(&idle), "{idle}");
    assert_eq!(rt.warm_budget.idle(), idle);
}

#[test]
fn draining_drops_idle_instances_and_those_in_flight_on_return() {
    let (_dir, rt, loaded) = demo(Limits::default());
    let ctx = warm_ctx();
    // Two instances: one taken out by hand (a call in flight), one made by a call.
    let site = super::call::tests_site(&loaded, "count");
    let checkout = loaded.warm.checkout();
    assert!(checkout.instance.is_none());
    let mut in_flight = rt.new_warm(&site, &ctx, checkout.generation).unwrap();
    assert_eq!(count(&rt, &loaded, &ctx), json!(1));
    assert_eq!(count(&rt, &loaded, &ctx), json!(2));
    assert_eq!((loaded.warm_pool_idle(), rt.warm_budget.idle()), (1, 1));

    assert_eq!(loaded.drain_warm_pool(), 1);
    assert_eq!((loaded.warm_pool_idle(), rt.warm_budget.idle()), (0, 0));
    in_flight.used();
    loaded.warm.give_back(in_flight, rt.limits());
    assert_eq!(
        loaded.warm_pool_idle(),
        0,
        "an instance from before the drain came back"
    );
    // The pool works again afterwards, with new instances.
    assert_eq!(count(&rt, &loaded, &ctx), json!(1));
    assert_eq!(count(&rt, &loaded, &ctx), json!(2));
    assert_eq!(loaded.warm_pool_idle(), 1);
}

#[test]
fn dropping_a_version_drops_its_warm_pool() {
    let (_dir, rt, loaded) = demo(Limits::default());
    count(&rt, &loaded, &warm_ctx());
    assert_eq!(rt.warm_budget.idle(), 1);
    drop(loaded);
    assert_eq!(rt.warm_budget.idle(), 0);
}

#[test]
fn idle_instances_are_capped_across_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let mut rt = runtime(dir.path(), Limits::default());
    rt.warm_budget = Arc::new(warm::IdleBudget::new(1));
    let a = rt.load(&package(DEMO, "demo")).unwrap();
    let b = rt
        .load(&package(&format!("{DEMO};; another digest\n"), "demo"))
        .unwrap();
    let ctx = warm_ctx();
    assert_eq!(count(&rt, &a, &ctx), json!(1));
    // `b` finds no room: its instance is dropped after the call, `a` keeps its own.
    assert_eq!(count(&rt, &b, &ctx), json!(1));
    assert_eq!(count(&rt, &b, &ctx), json!(1));
    assert_eq!((a.warm_pool_idle(), b.warm_pool_idle()), (1, 0));
    assert_eq!(count(&rt, &a, &ctx), json!(2));
    a.drain_warm_pool();
    assert_eq!(count(&rt, &b, &ctx), json!(1));
    assert_eq!(count(&rt, &b, &ctx), json!(2));
}

#[test]
fn calls_with_component_values_check_them_and_skip_json() {
    let (_dir, rt, loaded) = demo(Limits::default());
    let sum = rt
        .call_values(
            &loaded,
            &ctx(),
            "api.add",
            &[ComponentValue::U32(2), ComponentValue::U32(3)],
        )
        .unwrap();
    assert!(
        matches!(sum.as_slice(), [ComponentValue::U32(5)]),
        "{sum:?}"
    );
    let echoed = rt
        .call_values(
            &loaded,
            &ctx(),
            "api.echo",
            &[ComponentValue::String("hé".into())],
        )
        .unwrap();
    assert!(
        matches!(echoed.as_slice(), [ComponentValue::String(s)] if s == "hé"),
        "{echoed:?}"
    );

    let err = rt
        .call_values(
            &loaded,
            &ctx(),
            "api.add",
            &[ComponentValue::U32(2), ComponentValue::String("3".into())],
        )
        .unwrap_err();
    assert!(
        matches!(&err, CallError::BadArguments { reason, .. }
            if reason == "parameter \"b\": expected u32, found a string"),
        "{err}"
    );
    let err = rt
        .call_values(&loaded, &ctx(), "api.add", &[ComponentValue::U32(2)])
        .unwrap_err();
    assert!(
        matches!(&err, CallError::BadArguments { reason, .. }
            if reason == "expected 2 arguments, found 1"),
        "{err}"
    );
    assert_alive(&rt, &loaded);
}

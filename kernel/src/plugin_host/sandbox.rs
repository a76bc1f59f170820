//! The sandbox around each hook call: engine settings, the epoch ticker, per-call state with its
//! memory limiter and log budget, and the slots that bound concurrent calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::Duration;

use wasmtime::component::Linker;

use super::RecordSource;
use wasmtime::{
    Config, Engine, EngineWeak, InstanceAllocationStrategy, PoolingAllocationConfig,
    ResourceLimiter, StoreLimits, StoreLimitsBuilder,
};

/// Core instances one plugin component may create. A Rust `wasm32-wasip2` component has the
/// main module plus a few shim modules; anything far beyond that is not a plugin we built.
pub(super) const CORE_INSTANCES_PER_COMPONENT: u32 = 16;
/// Linear memories one plugin component may create (the main module's, plus headroom for an
/// adapter module).
pub(super) const MEMORIES_PER_COMPONENT: u32 = 2;
/// Tables one plugin component may create.
pub(super) const TABLES_PER_COMPONENT: u32 = 8;
/// Wasm stack per call; deeper recursion traps instead of growing.
const MAX_WASM_STACK: usize = 512 * 1024;
/// Memory the pool keeps mapped per slot between calls; reset is then a `memset` rather than
/// page faults on the next call. Plugins built here use a 256 KiB stack (`.cargo/config.toml`)
/// below their data and heap, so a hook touches well under 1 MiB: measured with the crm plugin,
/// 1 MiB gave the lowest p99 (512 KiB and 4 MiB were slower).
const KEEP_RESIDENT: usize = 1024 * 1024;
/// Warm slots kept around when idle, bounding the RSS they hold (at most 16 × 1 MiB).
const MAX_UNUSED_WARM_SLOTS: u32 = 16;

/// The wasmtime configuration for plugins.
///
/// `fuel` turns on fuel metering, which changes the generated code: artifacts compiled with and
/// without it are different and the cache key (the engine's compatibility hash) tells them apart.
pub(super) fn engine_config(memory_bytes: usize, slots: u32, fuel: bool, pooling: bool) -> Config {
    let mut config = Config::new();
    config
        .strategy(wasmtime::Strategy::Cranelift)
        .wasm_component_model(true)
        .epoch_interruption(true)
        .consume_fuel(fuel)
        .max_wasm_stack(MAX_WASM_STACK)
        // Proposals no plugin needs stay off, shrinking what untrusted code can reach.
        .wasm_memory64(false)
        .wasm_gc(false)
        // Where the pool can find the pages a call dirtied (below), a copy-on-write image of the
        // data segments is faster: a fresh instance then copies back only the data pages the last
        // call wrote, not all of them. Without that scan, resetting an image costs page faults on
        // every call, and a plain copy into a resident slot is faster.
        .memory_init_cow(pooling && dirty_page_scan());
    if pooling {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(slots)
            .total_core_instances(slots.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
            .total_memories(slots.saturating_mul(MEMORIES_PER_COMPONENT))
            .total_tables(slots.saturating_mul(TABLES_PER_COMPONENT))
            .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
            .max_memories_per_component(MEMORIES_PER_COMPONENT)
            .max_tables_per_component(TABLES_PER_COMPONENT)
            .max_memory_size(memory_bytes)
            .linear_memory_keep_resident(KEEP_RESIDENT.min(memory_bytes))
            .table_keep_resident(64 * 1024)
            // Linux 6.7+: reset only the pages a call dirtied instead of the whole resident part.
            .pagemap_scan(if dirty_page_scan() {
                wasmtime::Enabled::Yes
            } else {
                wasmtime::Enabled::No
            })
            .max_unused_warm_slots(MAX_UNUSED_WARM_SLOTS.min(slots));
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// Whether the kernel offers the `PAGEMAP_SCAN` ioctl (Linux 6.7 and later), with which the pool
/// resets only the pages of a memory that a call dirtied.
fn dirty_page_scan() -> bool {
    static AVAILABLE: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut numbers = release
            .split(|c: char| !c.is_ascii_digit())
            .map(|part| part.parse::<u32>().unwrap_or(0));
        let (major, minor) = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
        cfg!(target_os = "linux") && (major, minor) >= (6, 7)
    });
    *AVAILABLE
}

/// Builds the engine, with the pooling allocator when the address space allows it.
///
/// The pool reserves its virtual memory up front (about 4 GiB per memory slot). Where a
/// `ulimit -v` forbids that, the host still works with on-demand allocation: limits stay the
/// same, only instantiation is slower.
pub(super) fn engine(memory_bytes: usize, slots: u32, fuel: bool) -> Result<Engine, String> {
    match Engine::new(&engine_config(memory_bytes, slots, fuel, true)) {
        Ok(engine) => Ok(engine),
        Err(pool_error) => {
            tracing::warn!(error = %format!("{pool_error:#}"), "plugin pool unavailable; allocating on demand");
            Engine::new(&engine_config(memory_bytes, slots, fuel, false))
                .map_err(|error| format!("{error:#}"))
        }
    }
}

/// Starts the thread that advances the engine's epoch every `tick`.
///
/// It holds only a weak reference, so it ends on its own once the last engine user is gone.
pub(super) fn start_epoch_ticker(engine: EngineWeak, tick: Duration) -> Result<(), String> {
    thread::Builder::new()
        .name("jingxi-plugin-epoch".into())
        .spawn(move || {
            loop {
                thread::sleep(tick);
                match engine.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })
        .map(drop)
        .map_err(|error| format!("cannot start the epoch thread: {error}"))
}

/// The seed a guest's standard library asks for to key its hash maps.
///
/// Rust's std on `wasm32-wasip2` calls `wasi:random/insecure-seed` the first time it builds a
/// `HashMap` (serde_json's ordered maps included), so trapping there would break every plugin.
/// A constant lets no information in and keeps a plugin's output, and fuel use, the same for the
/// same input; hash flooding by crafted keys is bounded by the call's time limit.
const INSECURE_SEED: (u64, u64) = (0x6a69_6e67_7869_0001, 0x7365_6564_0000_0001);

/// Defines the WASI functions the sandbox answers harmlessly instead of trapping, under the
/// exact name and version the guest imports, so that linking the remaining imports as traps
/// does not shadow them.
pub(super) fn link_benign_import(
    linker: &mut Linker<CallState>,
    import: &str,
) -> wasmtime::Result<bool> {
    let Some((interface, version)) = import.split_once('@') else {
        return Ok(false);
    };
    if interface == "wasi:random/insecure-seed" && version.starts_with("0.2.") {
        linker
            .instance(import)?
            .func_wrap("insecure-seed", |_, (): ()| Ok((INSECURE_SEED,)))?;
        return Ok(true);
    }
    Ok(false)
}

/// Bounds the number of hook calls running at once, without ever waiting: a caller that finds
/// every slot taken gets `Busy` at once rather than holding a blocking thread.
#[derive(Debug)]
pub(super) struct Slots {
    in_use: AtomicU32,
    max: u32,
}

impl Slots {
    pub(super) fn new(max: u32) -> Self {
        Slots {
            in_use: AtomicU32::new(0),
            max,
        }
    }

    pub(super) fn max(&self) -> u32 {
        self.max
    }

    pub(super) fn try_acquire(self: &Arc<Self>) -> Option<SlotGuard> {
        self.in_use
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| SlotGuard {
                slots: Arc::clone(self),
            })
    }
}

/// One taken slot; dropping it frees the slot.
#[derive(Debug)]
pub(super) struct SlotGuard {
    slots: Arc<Slots>,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.slots.in_use.fetch_sub(1, Ordering::Release);
    }
}

/// Enforces the memory cap of one call and remembers whether it was hit, so a failure can be
/// reported as the limit rather than as whatever trap the guest ran into next.
pub(super) struct CallLimiter {
    limits: StoreLimits,
    memory_exceeded: bool,
}

impl CallLimiter {
    fn new(memory_bytes: usize) -> Self {
        CallLimiter {
            limits: StoreLimitsBuilder::new()
                .memory_size(memory_bytes)
                .instances(CORE_INSTANCES_PER_COMPONENT as usize + 1)
                .memories(MEMORIES_PER_COMPONENT as usize)
                .tables(TABLES_PER_COMPONENT as usize)
                .trap_on_grow_failure(true)
                .build(),
            memory_exceeded: false,
        }
    }
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let answer = self.limits.memory_growing(current, desired, maximum);
        if !matches!(answer, Ok(true)) {
            self.memory_exceeded = true;
        }
        answer
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_exceeded = true;
        self.limits.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// Everything a store holds for one hook call.
pub(super) struct CallState {
    plugin: Arc<str>,
    pub(super) limiter: CallLimiter,
    log_remaining: usize,
    log_cap: usize,
    log_truncated: bool,
    records: Option<Arc<dyn RecordSource>>,
    queries_left: u32,
    query_bytes_left: usize,
}

/// Queries (`query`, `aggregate` and `count` together) one hook call may make; a plugin that
/// needs more should ask for more per query.
pub(super) const MAX_QUERIES_PER_CALL: u32 = 100;
/// Records one query may return.
pub(super) const MAX_QUERY_LIMIT: u32 = 1000;
/// Groups one aggregate or count may return (the largest first).
pub(super) const MAX_AGGREGATE_GROUPS: u32 = 1000;
/// Fields one aggregate or count may group by.
pub(super) const MAX_GROUP_BY_FIELDS: usize = 8;

impl CallState {
    pub(super) fn new(
        plugin: Arc<str>,
        memory_bytes: usize,
        log_cap: usize,
        records: Option<Arc<dyn RecordSource>>,
        query_bytes: usize,
    ) -> Self {
        CallState {
            plugin,
            limiter: CallLimiter::new(memory_bytes),
            log_remaining: log_cap,
            log_cap,
            log_truncated: false,
            records,
            queries_left: MAX_QUERIES_PER_CALL,
            query_bytes_left: query_bytes,
        }
    }

    /// Takes one query from the call's budget, shared by `query`, `aggregate` and `count`.
    fn take_query(&mut self, import: &str) -> Result<Arc<dyn RecordSource>, String> {
        let Some(records) = self.records.clone() else {
            return Err(format!("{import} is not available in this hook"));
        };
        if self.queries_left == 0 {
            return Err(format!(
                "limit exceeded: at most {MAX_QUERIES_PER_CALL} queries per hook call"
            ));
        }
        self.queries_left -= 1;
        Ok(records)
    }

    /// Takes `bytes` of answers from the call's output budget.
    fn take_bytes(&mut self, bytes: usize) -> Result<(), String> {
        if bytes > self.query_bytes_left {
            self.query_bytes_left = 0;
            return Err("limit exceeded: query results of this hook call are too large".to_owned());
        }
        self.query_bytes_left -= bytes;
        Ok(())
    }

    /// Forwards a `query` import to the kernel's record source, within the call's budgets:
    /// a bounded number of queries, rows per query, and bytes returned in all.
    pub(super) fn query(
        &mut self,
        entity: &str,
        filter: &str,
        limit: u32,
    ) -> Result<Vec<String>, String> {
        let records = self.take_query("query")?;
        let found = records.query(entity, filter, limit.min(MAX_QUERY_LIMIT))?;
        self.take_bytes(found.iter().map(String::len).sum())?;
        tracing::debug!(plugin = %self.plugin, entity, n_records = found.len(), "plugin query");
        Ok(found)
    }

    /// Forwards an `aggregate` import to the kernel's record source, within the same budgets as
    /// `query`: it counts as one query, and its answer against the bytes returned in all.
    pub(super) fn aggregate(
        &mut self,
        entity: &str,
        filter: &str,
        group_by: &[String],
    ) -> Result<String, String> {
        self.grouped("aggregate", entity, group_by, |records| {
            records.aggregate(entity, filter, group_by, MAX_AGGREGATE_GROUPS)
        })
    }

    /// Forwards a `count` import to the kernel's record source, within the same budgets as
    /// `aggregate`.
    pub(super) fn count(
        &mut self,
        entity: &str,
        filter: &str,
        group_by: &[String],
    ) -> Result<String, String> {
        self.grouped("count", entity, group_by, |records| {
            records.count(entity, filter, group_by, MAX_AGGREGATE_GROUPS)
        })
    }

    /// The budgets of a grouping import: one query, at most `MAX_GROUP_BY_FIELDS` fields, the
    /// answer against the bytes returned in all.
    fn grouped(
        &mut self,
        import: &str,
        entity: &str,
        group_by: &[String],
        ask: impl FnOnce(&dyn RecordSource) -> Result<String, String>,
    ) -> Result<String, String> {
        let records = self.take_query(import)?;
        if group_by.len() > MAX_GROUP_BY_FIELDS {
            return Err(format!(
                "limit exceeded: at most {MAX_GROUP_BY_FIELDS} fields to group by"
            ));
        }
        let groups = ask(records.as_ref())?;
        self.take_bytes(groups.len())?;
        tracing::debug!(plugin = %self.plugin, import, entity, ?group_by, "plugin grouped query");
        Ok(groups)
    }

    pub(super) fn memory_exceeded(&self) -> bool {
        self.limiter.memory_exceeded
    }

    /// Writes one plugin log line, escaped and within the call's log budget.
    pub(super) fn log(&mut self, level: tracing::Level, message: &str) {
        if self.log_truncated {
            return;
        }
        let (line, complete) = escape_capped(message, self.log_remaining);
        self.log_remaining -= line.len();
        let plugin = &*self.plugin;
        match level {
            _ if line.is_empty() && !complete => {}
            tracing::Level::ERROR => tracing::error!(target: "jingxi::plugin", plugin, "{line}"),
            tracing::Level::WARN => tracing::warn!(target: "jingxi::plugin", plugin, "{line}"),
            tracing::Level::INFO => tracing::info!(target: "jingxi::plugin", plugin, "{line}"),
            tracing::Level::DEBUG => tracing::debug!(target: "jingxi::plugin", plugin, "{line}"),
            tracing::Level::TRACE => tracing::trace!(target: "jingxi::plugin", plugin, "{line}"),
        }
        if !complete {
            self.log_truncated = true;
            tracing::warn!(
                target: "jingxi::plugin",
                plugin,
                "plugin log over {} bytes in one call; the rest of this call's log is dropped",
                self.log_cap
            );
        }
    }
}

/// Escapes characters that could forge or hide log lines (control characters, bidirectional
/// overrides, zero-width characters) and cuts the result at `budget` bytes on a character
/// boundary. Returns the text and whether all of `message` fit.
///
/// The work done is bounded by `budget`, not by the length of `message`.
pub(super) fn escape_capped(message: &str, budget: usize) -> (String, bool) {
    let mut line = String::with_capacity(message.len().min(budget));
    for c in message.chars() {
        let before = line.len();
        if needs_escape(c) {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
        if line.len() > budget {
            line.truncate(before);
            return (line, false);
        }
    }
    (line, true)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(message: &str, budget: usize, expect: &str, expect_complete: bool) {
        let (line, complete) = escape_capped(message, budget);
        assert_eq!(line, expect);
        assert_eq!(complete, expect_complete);
        assert!(line.len() <= budget);
    }

    #[test]
    fn escapes_control_and_bidi_characters() {
        check("a\nb\x1b[31m", 100, "a\\nb\\u{1b}[31m", true);
        check("x\u{202e}y", 100, "x\\u{202e}y", true);
        check("客户名称", 100, "客户名称", true);
    }

    #[test]
    fn cuts_on_a_character_boundary() {
        check("客户名称", 7, "客户", false);
        check("ab\ncd", 3, "ab", false);
        check("abc", 3, "abc", true);
    }

    #[test]
    fn slots_refuse_past_the_maximum_and_free_on_drop() {
        let slots = Arc::new(Slots::new(2));
        let first = slots.try_acquire().expect("a slot is free");
        let second = slots.try_acquire().expect("a slot is free");
        assert!(slots.try_acquire().is_none());
        drop(first);
        let third = slots.try_acquire().expect("the first slot was freed");
        drop((second, third));
        assert_eq!(slots.in_use.load(Ordering::Relaxed), 0);
    }
}

//! Compiling a plugin in a child process (`jingxi compile-plugin`), so a plugin whose compilation
//! needs too much memory or time is refused and the server's own memory is never at stake.
//!
//! The parent writes the wasm to the child's standard input; the child builds the same engine as
//! the parent, caps its data memory (`RLIMIT_DATA`), compiles, and writes the artifact to its
//! standard output. The parent checks nothing in the artifact beyond storing it with its tag:
//! the child is this kernel's own executable.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The engine settings that change compiled code; the child must use the parent's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineSpec {
    pub memory_bytes: usize,
    pub slots: u32,
    pub fuel: bool,
}

impl EngineSpec {
    fn args(&self) -> Vec<String> {
        let mut args = vec![
            "compile-plugin".to_string(),
            "--memory-bytes".into(),
            self.memory_bytes.to_string(),
            "--slots".into(),
            self.slots.to_string(),
        ];
        if self.fuel {
            args.push("--fuel".into());
        }
        args
    }
}

/// Why the child did not produce an artifact.
#[derive(Debug)]
pub(super) enum WorkerError {
    Timeout,
    Memory,
    Failed(String),
    Spawn(std::io::Error),
}

/// Compiles `wasm` in a child process running `exe compile-plugin`, with at most `memory_mib`
/// of data memory and `timeout` of wall-clock time.
pub(super) fn compile(
    exe: &Path,
    spec: EngineSpec,
    wasm: &[u8],
    memory_mib: u64,
    timeout: Duration,
) -> Result<Vec<u8>, WorkerError> {
    let mut child = Command::new(exe)
        .args(spec.args())
        .arg("--memory-limit-mib")
        .arg(memory_mib.to_string())
        .env("JINGXI_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(WorkerError::Spawn)?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = wasm.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut artifact = Vec::new();
        let _ = stdout.read_to_end(&mut artifact);
        artifact
    });
    let mut stderr = child.stderr.take().expect("piped stderr");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = (&mut stderr).take(64 * 1024).read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(WorkerError::Timeout);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(error) => return Err(WorkerError::Spawn(error)),
        }
    };
    let _ = writer.join();
    let artifact = reader.join().unwrap_or_default();
    let errors = errors.join().unwrap_or_default();
    if status.success() && !artifact.is_empty() {
        return Ok(artifact);
    }
    if ran_out_of_memory(status, &errors) {
        return Err(WorkerError::Memory);
    }
    let message = errors.trim();
    Err(WorkerError::Failed(if message.is_empty() {
        format!("the compiler process ended with {status}")
    } else {
        message.to_string()
    }))
}

fn ran_out_of_memory(status: ExitStatus, errors: &str) -> bool {
    let lower = errors.to_ascii_lowercase();
    let said_so = lower.contains("memory allocation of")
        || lower.contains("cannot allocate memory")
        || lower.contains("out of memory");
    #[cfg(unix)]
    let aborted = {
        use std::os::unix::process::ExitStatusExt;
        // Rust aborts (SIGABRT) when an allocation fails; the kernel may also kill (SIGKILL).
        matches!(status.signal(), Some(6) | Some(9))
    };
    #[cfg(not(unix))]
    let aborted = false;
    said_so || (aborted && !status.success())
}

/// The child's side: reads the wasm from standard input, limits its own data memory, compiles
/// with the parent's engine settings, and writes the artifact to standard output.
pub fn serve(spec: EngineSpec, memory_limit_mib: u64) -> Result<(), String> {
    let engine = super::sandbox::engine(spec.memory_bytes, spec.slots, spec.fuel)?;
    let mut wasm = Vec::new();
    std::io::stdin()
        .read_to_end(&mut wasm)
        .map_err(|error| format!("cannot read the plugin: {error}"))?;
    limit_data_memory(memory_limit_mib)?;
    let artifact = engine
        .precompile_component(&wasm)
        .map_err(|error| format!("cannot compile: {error:#}"))?;
    std::io::stdout()
        .write_all(&artifact)
        .and_then(|()| std::io::stdout().flush())
        .map_err(|error| format!("cannot write the artifact: {error}"))
}

#[cfg(unix)]
fn limit_data_memory(mib: u64) -> Result<(), String> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let bytes = mib.saturating_mul(1 << 20);
    setrlimit(
        Resource::Data,
        Rlimit {
            current: Some(bytes),
            maximum: Some(bytes),
        },
    )
    .map_err(|error| format!("cannot limit the compiler's memory: {error}"))
}

#[cfg(not(unix))]
fn limit_data_memory(_mib: u64) -> Result<(), String> {
    Ok(())
}

//! `confer-relay-floor`: what the kernel alone charges for relaying a message on this
//! machine, as the floor under Confer's "server CPU per relayed message".
//!
//! A relay thread that does nothing but `read` from one loopback TCP connection and `write`
//! what it got to another (blocking sockets, no WebSocket, no JSON, no allocation), fed by a
//! sender thread that writes fixed-size messages one `write` each — as a browser sends its
//! frames — and drained by a receiver thread. Reported: the relay thread's user and system
//! CPU (`getrusage(RUSAGE_THREAD)`) per message and per read+write pair. Loopback only,
//! bounded by `--messages`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "confer-relay-floor",
    about = "Kernel cost of a bare TCP relay on this machine (loopback only)"
)]
struct Args {
    /// Messages to relay (at most 10,000,000).
    #[arg(long, default_value_t = 200_000)]
    messages: u64,
    /// Bytes per message (a trickle candidate is about 250, an offer about 5,000).
    #[arg(long, default_value_t = 300)]
    size: usize,
    /// Microseconds the sender pauses after every 11 messages (0: as fast as it can).
    #[arg(long, default_value_t = 0)]
    pause_us: u64,
}

/// User and system CPU of the calling thread.
fn thread_cpu() -> (Duration, Duration) {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    (tv(usage.ru_utime), tv(usage.ru_stime))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.messages <= 10_000_000, "at most 10,000,000 messages");
    anyhow::ensure!((1..=65_536).contains(&args.size), "size must be 1..=65536");
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let addr = listener.local_addr()?;
    let total = args.messages * args.size as u64;

    let (messages, size, pause) = (args.messages, args.size, args.pause_us);
    let sender = std::thread::spawn(move || -> std::io::Result<()> {
        let mut out = TcpStream::connect(addr)?;
        out.set_nodelay(true)?;
        let message = vec![b'x'; size];
        for i in 0..messages {
            out.write_all(&message)?;
            if pause > 0 && i % 11 == 10 {
                std::thread::sleep(Duration::from_micros(pause));
            }
        }
        Ok(())
    });
    let (mut from, _) = listener.accept()?;
    let receiver = std::thread::spawn(move || -> std::io::Result<()> {
        let mut inbound = TcpStream::connect(addr)?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0u64;
        while got < total {
            match inbound.read(&mut buf)? {
                0 => break,
                n => got += n as u64,
            }
        }
        Ok(())
    });
    let (mut to, _) = listener.accept()?;
    to.set_nodelay(true)?;

    let mut buf = vec![0u8; 64 * 1024];
    let (user0, sys0) = thread_cpu();
    let started = Instant::now();
    let (mut relayed, mut pairs) = (0u64, 0u64);
    while relayed < total {
        let n = from.read(&mut buf)?;
        if n == 0 {
            break;
        }
        to.write_all(&buf[..n])?;
        relayed += n as u64;
        pairs += 1;
    }
    let elapsed = started.elapsed();
    let (user1, sys1) = thread_cpu();
    sender
        .join()
        .map_err(|_| anyhow::anyhow!("sender panicked"))??;
    receiver
        .join()
        .map_err(|_| anyhow::anyhow!("receiver panicked"))??;

    let per = |d: Duration, n: u64| d.as_secs_f64() * 1e6 / n.max(1) as f64;
    let (user, sys) = (user1 - user0, sys1 - sys0);
    println!("confer-relay-floor  {messages} messages of {size} bytes, pause {pause} µs per 11");
    println!(
        "read+write pairs                {pairs} ({:.2} messages per read)",
        messages as f64 / pairs.max(1) as f64
    );
    println!(
        "relay time (s)                  {:.3}",
        elapsed.as_secs_f64()
    );
    println!("relay thread user µs/message    {:.2}", per(user, messages));
    println!("relay thread system µs/message  {:.2}", per(sys, messages));
    println!(
        "relay thread CPU µs/message     {:.2}",
        per(user + sys, messages)
    );
    println!(
        "relay thread CPU µs/read+write  {:.2}",
        per(user + sys, pairs)
    );
    Ok(())
}

//! A raw Unix-socket echo server: the floor the client benchmarks measure the
//! generated clients against. It answers each frame with a RESPONSE frame carrying
//! the same payload, as soon as it has read it — no envelope, no actor.
//!
//! ```text
//! raw-echo --socket /tmp/echo.sock
//! ```

use std::path::PathBuf;

use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::UnixListener;

/// Echoes every frame back as a RESPONSE frame (the client benchmarks' baseline).
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// The socket to listen on (replaced if it exists).
    #[arg(long)]
    socket: PathBuf,
}

/// The frame kind byte of a RESPONSE (docs/protocol.md).
const RESPONSE: u8 = 0x02;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _ = std::fs::remove_file(&cli.socket);
    let listener = UnixListener::bind(&cli.socket)?;
    println!("raw-echo listening on {}", cli.socket.display());
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let (read, write) = stream.into_split();
            let mut read = BufReader::with_capacity(64 * 1024, read);
            let mut write = BufWriter::with_capacity(64 * 1024, write);
            let mut header = [0u8; 7];
            let mut payload = Vec::new();
            loop {
                if read.read_exact(&mut header).await.is_err() {
                    return;
                }
                let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
                payload.resize(length as usize, 0);
                if read.read_exact(&mut payload).await.is_err() {
                    return;
                }
                header[5] = RESPONSE;
                if write.write_all(&header).await.is_err()
                    || write.write_all(&payload).await.is_err()
                {
                    return;
                }
                if read.buffer().is_empty() && write.flush().await.is_err() {
                    return;
                }
            }
        });
    }
}

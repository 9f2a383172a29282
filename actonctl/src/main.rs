//! `actonctl`: poke a running acton server from the shell — what grpcurl is to
//! gRPC and varlinkctl to varlink.
//!
//! ```text
//! actonctl --socket /tmp/acton-desk.sock discover
//! actonctl --socket /tmp/acton-desk.sock call calculator.add '{"a": 1, "b": 2}'
//! actonctl --socket /tmp/acton-desk.sock call calculator.count '{"up_to": 3}'
//! actonctl --socket /tmp/acton-desk.sock subscribe PriceUpdate --count 2
//! actonctl --socket /tmp/acton-desk.sock describe calculator.add
//! actonctl --nats nats://127.0.0.1:4222 --nats-prefix desk call calculator.add '{"a": 1}'
//! ```

mod schema;

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use acton_reactive::ipc::client::{ClientError, ClientOptions, IpcClient};
use acton_reactive::ipc::Format;
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use serde_json::{json, Value};

use schema::{str_of, SchemaDoc};

const EXAMPLES: &str = "\
Examples:
  actonctl --socket /tmp/acton-desk.sock discover
  actonctl --socket /tmp/acton-desk.sock call calculator.add '{\"a\": 1, \"b\": 2}'
  actonctl --socket /tmp/acton-desk.sock call calculator.count @request.json
  echo '{\"up_to\": 3}' | actonctl --socket /tmp/acton-desk.sock call calculator.count -
  actonctl --socket /tmp/acton-desk.sock subscribe PriceUpdate --count 5
  actonctl --socket /tmp/acton-desk.sock describe calculator
  actonctl --schema schema/messages.yaml describe AddRequest
  actonctl --socket /tmp/old.sock call --target calculator --type AddRequest '{\"a\": 1}'
  actonctl --nats nats://127.0.0.1:4222 --nats-prefix desk call calculator.add '{\"a\": 1}'

Exit status:
  0  success
  1  an unexpected failure (a reply that is not JSON, ...)
  2  usage: bad arguments, a payload that does not fit the schema, an unknown method
  3  connection: no server at the socket, or the connection closed
  4  the server answered with an error (its code and message on stderr)
  5  timeout: no answer in time";

/// Talk to a running acton server from the shell.
#[derive(Debug, Parser)]
#[command(name = "actonctl", version, about, after_help = EXAMPLES)]
struct Cli {
    /// The server's socket [env: ACTON_SOCKET; default /tmp/acton.sock].
    #[arg(
        long,
        global = true,
        env = "ACTON_SOCKET",
        default_value = "/tmp/acton.sock"
    )]
    socket: PathBuf,
    /// Reach the server through NATS at URL instead of the socket (its NATS
    /// bridge; docs/nats.md) [env: ACTON_NATS].
    #[arg(long, global = true, env = "ACTON_NATS", value_name = "URL")]
    nats: Option<String>,
    /// The subject prefix the server serves under on NATS.
    #[arg(long, global = true, default_value = "acton", value_name = "P")]
    nats_prefix: String,
    /// Payload encoding on the wire.
    #[arg(long, global = true, value_enum, default_value_t = WireFormat::Json)]
    format: WireFormat,
    /// Seconds to wait for an answer (a stream's whole length); 0 for no limit.
    #[arg(long, global = true, default_value_t = 30.0)]
    timeout: f64,
    /// Read the schema from this file instead of asking the server.
    #[arg(long, global = true)]
    schema: Option<PathBuf>,
    /// Pretty-print JSON answers.
    #[arg(long, global = true)]
    pretty: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum WireFormat {
    Json,
    Msgpack,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the server's services, their methods and kinds, and its types.
    Discover,
    /// Call SERVICE.METHOD with a JSON payload (a literal, @FILE, or - for stdin).
    ///
    /// The payload is checked against the schema first, and absent fields with a
    /// default are filled in. A stream prints one JSON line per item.
    Call {
        /// `service.method` (omit it with --target and --type).
        method: Option<String>,
        /// The request: JSON text, @FILE or - (default `{}`).
        payload: Option<String>,
        /// Send raw to this actor, without a schema (servers that serve none).
        #[arg(long, requires = "message_type")]
        target: Option<String>,
        /// The request's registered type, with --target.
        #[arg(long = "type", requires = "target")]
        message_type: Option<String>,
        /// With --target: read a stream of answers.
        #[arg(long, requires = "target")]
        stream: bool,
        /// With --target: fire-and-forget.
        #[arg(long, requires = "target", conflicts_with = "stream")]
        send: bool,
    },
    /// Print pushes of these types (or patterns such as `price.*`) as JSON lines.
    Subscribe {
        /// Type names or patterns (ending in `*`).
        #[arg(required = true)]
        names: Vec<String>,
        /// Stop after this many pushes.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Describe the schema, a service, a method (SERVICE.METHOD) or a type.
    Describe {
        /// What to describe (everything when absent).
        what: Option<String>,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// How `actonctl` ends.
#[derive(Debug)]
enum Failure {
    Usage(String),
    Connection(String),
    Server(String),
    Timeout(String),
    Other(String),
}

impl Failure {
    fn code(&self) -> u8 {
        match self {
            Self::Other(_) => 1,
            Self::Usage(_) => 2,
            Self::Connection(_) => 3,
            Self::Server(_) => 4,
            Self::Timeout(_) => 5,
        }
    }

    fn message(&self) -> &str {
        match self {
            Self::Usage(m)
            | Self::Connection(m)
            | Self::Server(m)
            | Self::Timeout(m)
            | Self::Other(m) => m,
        }
    }
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Self {
        match &error {
            ClientError::Server {
                code,
                message,
                details,
            } => {
                let fields = details
                    .as_ref()
                    .and_then(|d| d.decode::<Value>().ok())
                    .map(|v| format!("\n{v}"))
                    .unwrap_or_default();
                Self::Server(format!("{code}: {message}{fields}"))
            }
            ClientError::Timeout(_) => Self::Timeout(error.to_string()),
            ClientError::Codec(_) => Self::Other(error.to_string()),
            _ => Self::Connection(error.to_string()),
        }
    }
}

type Outcome = Result<(), Failure>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Completions { shell } = &cli.command {
        clap_complete::generate(
            *shell,
            &mut Cli::command(),
            "actonctl",
            &mut std::io::stdout(),
        );
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("actonctl: cannot start: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("actonctl: {}", failure.message());
            ExitCode::from(failure.code())
        }
    }
}

async fn run(cli: Cli) -> Outcome {
    let out = Printer { pretty: cli.pretty };
    match &cli.command {
        Command::Describe { what } if cli.schema.is_some() => {
            let doc = schema_from_file(cli.schema.as_deref())?;
            describe(&doc, what.as_deref(), &out)
        }
        Command::Describe { what } => {
            let client = connect(&cli).await?;
            let doc = served_schema(&client).await?.ok_or_else(no_schema)?;
            describe(&doc, what.as_deref(), &out)
        }
        Command::Discover => discover(&cli, &out).await,
        Command::Call {
            method,
            payload,
            target,
            message_type,
            stream,
            send,
        } => {
            // With --target, the one positional argument is the payload.
            let (method, payload) = match (target, method, payload) {
                (Some(_), Some(only), None) => (None, Some(only)),
                (_, method, payload) => (method.as_ref(), payload.as_ref()),
            };
            if method.is_none() == target.is_none() {
                return Err(Failure::Usage(
                    "give SERVICE.METHOD, or --target NAME --type NAME to send raw".to_owned(),
                ));
            }
            let payload = read_payload(payload.map(String::as_str))?;
            let client = connect(&cli).await?;
            match (target, message_type, method) {
                (Some(target), Some(message_type), None) => {
                    let kind = if *stream {
                        "stream"
                    } else if *send {
                        "fire_and_forget"
                    } else {
                        "reply"
                    };
                    call(&client, target, message_type, kind, &payload, &out).await
                }
                (None, None, Some(path)) => {
                    let doc = match &cli.schema {
                        Some(path) => schema_from_file(Some(path))?,
                        None => served_schema(&client).await?.ok_or_else(no_schema)?,
                    };
                    let method = doc.method(path).map_err(Failure::Usage)?;
                    let payload = doc.check(&method.request, &payload).map_err(|e| {
                        Failure::Usage(format!("the payload does not fit {}: {e}", method.request))
                    })?;
                    call(
                        &client,
                        &method.service,
                        &method.request,
                        &method.kind,
                        &payload,
                        &out,
                    )
                    .await
                }
                _ => Err(Failure::Usage(
                    "give SERVICE.METHOD, or --target NAME --type NAME to send raw".to_owned(),
                )),
            }
        }
        Command::Subscribe { names, count } => {
            let client = connect(&cli).await?;
            subscribe(&client, names, *count, &out).await
        }
        Command::Completions { .. } => Ok(()),
    }
}

fn no_schema() -> Failure {
    Failure::Usage(
        "the server serves no schema (an acton-reactive 10 server, or types registered by hand): give --schema FILE, or call with --target NAME --type NAME".to_owned(),
    )
}

async fn connect(cli: &Cli) -> Result<IpcClient, Failure> {
    let options = ClientOptions {
        format: match cli.format {
            WireFormat::Json => Format::Json,
            WireFormat::Msgpack => Format::MessagePack,
        },
        timeout: if cli.timeout > 0.0 {
            Duration::from_secs_f64(cli.timeout.min(86_400.0))
        } else {
            Duration::from_secs(86_400 * 365)
        },
        keepalive: None,
        reconnect: false,
        ..ClientOptions::default()
    };
    match &cli.nats {
        Some(url) => IpcClient::connect_nats_with(url, &cli.nats_prefix, options)
            .await
            .map_err(|e| Failure::Connection(e.to_string())),
        None => IpcClient::connect_with(&cli.socket, options)
            .await
            .map_err(|e| {
                Failure::Connection(format!("cannot reach {}: {e}", cli.socket.display()))
            }),
    }
}

fn schema_from_file(path: Option<&std::path::Path>) -> Result<SchemaDoc, Failure> {
    let path = path.ok_or_else(|| Failure::Usage("no --schema FILE given".to_owned()))?;
    let schema = acton_codegen::load_schema(path).map_err(|d| Failure::Usage(d.to_string()))?;
    SchemaDoc::new(acton_codegen::generate::schema_document(&schema))
        .ok_or_else(|| Failure::Other("the schema document has no format".to_owned()))
}

async fn served_schema(client: &IpcClient) -> Result<Option<SchemaDoc>, Failure> {
    let answer = client.discover_schema().await?;
    Ok(answer.schema.and_then(SchemaDoc::new))
}

/// `{}` when absent; JSON text; `@FILE`; `-` for stdin.
fn read_payload(payload: Option<&str>) -> Result<Value, Failure> {
    let text = match payload {
        None => return Ok(json!({})),
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Failure::Usage(format!("cannot read the payload from stdin: {e}")))?;
            text
        }
        Some(path) if path.starts_with('@') => {
            std::fs::read_to_string(&path[1..]).map_err(|e| {
                Failure::Usage(format!("cannot read the payload from {}: {e}", &path[1..]))
            })?
        }
        Some(text) => text.to_owned(),
    };
    serde_json::from_str(&text).map_err(|e| {
        Failure::Usage(format!(
            "the payload is not JSON ({e}); quote it for the shell: '{{\"a\": 1}}'"
        ))
    })
}

struct Printer {
    pretty: bool,
}

impl Printer {
    fn json(&self, value: &Value) {
        let text = if self.pretty {
            serde_json::to_string_pretty(value)
        } else {
            serde_json::to_string(value)
        };
        println!("{}", text.unwrap_or_default());
    }
}

async fn call(
    client: &IpcClient,
    target: &str,
    message_type: &str,
    kind: &str,
    payload: &Value,
    out: &Printer,
) -> Outcome {
    match kind {
        "stream" => {
            use std::pin::pin;
            let mut items = pin!(
                client
                    .stream::<Value, Value>(target, message_type, payload)
                    .await?
            );
            while let Some(item) =
                std::future::poll_fn(|cx| futures_core::Stream::poll_next(items.as_mut(), cx)).await
            {
                out.json(&item?);
            }
            Ok(())
        }
        "fire_and_forget" => {
            client.send(target, message_type, payload).await?;
            out.json(&json!({ "status": "delivered" }));
            Ok(())
        }
        _ => {
            let answer: Value = client.request(target, message_type, payload).await?;
            out.json(&answer);
            Ok(())
        }
    }
}

async fn subscribe(
    client: &IpcClient,
    names: &[String],
    count: Option<u64>,
    out: &Printer,
) -> Outcome {
    let (patterns, types): (Vec<&str>, Vec<&str>) = names
        .iter()
        .map(String::as_str)
        .partition(|n| n.ends_with('*'));
    let mut subscriptions = Vec::new();
    if !types.is_empty() {
        subscriptions.push(client.subscribe::<Value>(&types).await?);
    }
    if !patterns.is_empty() {
        subscriptions.push(client.subscribe_patterns::<Value>(&patterns).await?);
    }
    let mut seen = 0u64;
    let mut merged = futures_util::stream::select_all(subscriptions);
    while count.is_none_or(|count| seen < count) {
        let next = tokio::select! {
            next = futures_util::StreamExt::next(&mut merged) => next,
            _ = tokio::signal::ctrl_c() => None,
        };
        let Some(push) = next else { break };
        let push = push?;
        out.json(&json!({ "type": push.message_type, "payload": push.payload }));
        seen += 1;
    }
    Ok(())
}

async fn discover(cli: &Cli, out: &Printer) -> Outcome {
    let client = connect(cli).await?;
    let answer = client.discover_schema().await?;
    if let Some(doc) = answer.schema.clone().and_then(SchemaDoc::new) {
        return describe(&doc, None, out);
    }
    // A server without a schema: what it exposes and registers.
    let actors: Vec<String> = answer
        .actors
        .unwrap_or_default()
        .into_iter()
        .map(|a| a.name)
        .collect();
    let types = answer.message_types.unwrap_or_default();
    if std::io::stdout().is_terminal() && !out.pretty {
        println!("services (no schema served; call them with --target/--type):");
        for actor in &actors {
            println!("  {actor}");
        }
        println!("types:");
        for name in &types {
            println!("  {name}");
        }
    } else {
        out.json(&json!({ "services": actors, "types": types }));
    }
    Ok(())
}

/// Prints the whole schema, a service, a method or a type, as text.
fn describe(doc: &SchemaDoc, what: Option<&str>, out: &Printer) -> Outcome {
    let Some(what) = what else {
        if out.pretty {
            out.json(doc.document());
            return Ok(());
        }
        for service in doc.services() {
            print_service(doc, service);
        }
        println!("types:");
        for ty in doc.types() {
            println!("  {} ({})", str_of(ty, "wire_name"), str_of(ty, "kind"));
        }
        return Ok(());
    };
    if let Some(service) = doc.services().iter().find(|s| str_of(s, "name") == what) {
        print_service(doc, service);
        return Ok(());
    }
    if let Ok(method) = doc.method(what) {
        println!(
            "{}.{}: {} of {} → {}",
            method.service,
            method.name,
            method.kind.replace('_', "-"),
            method.request,
            method.answer.as_deref().unwrap_or("(delivered)")
        );
        if let Some(ty) = doc.type_named(&method.request) {
            print_type(ty);
        }
        return Ok(());
    }
    if let Some(ty) = doc.type_named(what) {
        if out.pretty {
            out.json(ty);
        } else {
            print_type(ty);
        }
        return Ok(());
    }
    Err(Failure::Usage(format!(
        "`{what}` is no service, SERVICE.METHOD or type of the schema"
    )))
}

fn print_service(doc: &SchemaDoc, service: &Value) {
    let name = str_of(service, "name");
    println!("service {name}");
    if let Some(text) = service.get("doc").and_then(Value::as_str) {
        println!("  {}", text.lines().next().unwrap_or_default());
    }
    for method in service
        .get("methods")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Ok(info) = doc.method(&format!("{name}.{}", str_of(method, "name"))) {
            println!(
                "  {:<16} {:<16} {} → {}",
                info.name,
                info.kind.replace('_', "-"),
                info.request,
                info.answer.as_deref().unwrap_or("(delivered)")
            );
        }
    }
    for push in service
        .get("pushes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        println!("  push             {}", push.as_str().unwrap_or_default());
    }
}

fn print_type(ty: &Value) {
    println!("{} ({})", str_of(ty, "wire_name"), str_of(ty, "kind"));
    if let Some(text) = ty.get("doc").and_then(Value::as_str) {
        println!("  {}", text.lines().next().unwrap_or_default());
    }
    for field in ty
        .get("fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let default = if field.get("has_default") == Some(&Value::Bool(true)) {
            format!(
                " = {}",
                field.get("default").cloned().unwrap_or(Value::Null)
            )
        } else {
            String::new()
        };
        println!(
            "  {}: {}{default}",
            str_of(field, "name"),
            str_of(field, "type")
        );
    }
    for value in ty
        .get("values")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        println!("  {}", str_of(value, "name"));
    }
    for variant in ty
        .get("variants")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        println!("  {} = {}", str_of(ty, "tag"), str_of(variant, "name"));
        for field in variant
            .get("fields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            println!("    {}: {}", str_of(field, "name"), str_of(field, "type"));
        }
    }
}

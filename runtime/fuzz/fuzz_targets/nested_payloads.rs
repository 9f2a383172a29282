//! Recursive and nested payloads against a live server over a real socket.
//!
//! The server's registered types are recursive (`Tree`, `Chain`), tagged enums in
//! serde's three styles (`Expr` adjacently tagged, `Shape` internally tagged,
//! `Loose` untagged) and maps of vectors of them (`Forest`); its handlers reply
//! with them, stream their parts and broadcast them. Each input is read as a
//! script of frames sent on one connection: REQUESTs whose JSON or MessagePack
//! payloads are built from the input (mostly well-formed, now and then of the
//! wrong shape), REQUESTs nested thousands of levels deep, SUBSCRIBE,
//! SUBSCRIBE_PATTERNS, UNSUBSCRIBE(_PATTERNS) with names from the input,
//! DISCOVER and HEARTBEAT. Whatever arrives, the server must answer with
//! well-formed frames or close, never crash (a stack overflow in a decoder, an
//! encoder or a drop would), and keep serving a well-behaved client (checked
//! every 256 inputs).

#![no_main]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use acton_reactive::ipc::client::IpcClient;
use acton_reactive::ipc::protocol::{FrameCodec, MessageKind, MAX_FRAME_SIZE_HARD_LIMIT};
use acton_reactive::ipc::IpcConfig;
use acton_reactive::prelude::*;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio_util::codec::Decoder;

// ---------------------------------------------------------------------------
// The server's types and handlers

#[acton_message(ipc)]
#[derive(PartialEq)]
struct Tree {
    value: i64,
    children: Vec<Tree>,
}

#[acton_message(ipc)]
#[derive(PartialEq)]
#[serde(tag = "op", content = "args")]
enum Expr {
    Num(f64),
    Add(Box<Expr>, Box<Expr>),
    List(Vec<Expr>),
}

#[acton_message(ipc)]
#[serde(tag = "kind")]
enum Shape {
    Leaf {
        v: i32,
    },
    Node {
        next: Option<Box<Shape>>,
        extra: HashMap<String, Vec<Shape>>,
    },
}

#[acton_message(ipc)]
#[serde(untagged)]
enum Loose {
    Int(i64),
    Text(String),
    Many(Vec<Loose>),
    Map(BTreeMap<String, Loose>),
}

#[acton_message(ipc)]
struct Chain {
    next: Option<Box<Chain>>,
    tags: HashMap<String, Vec<u32>>,
}

#[acton_message(ipc)]
struct Forest {
    trees: BTreeMap<String, Vec<Tree>>,
    exprs: Vec<Expr>,
}

/// Registered names, in the order the input picks them.
const TYPES: [&str; 6] = ["Tree", "Expr", "Shape", "Loose", "Chain", "Forest"];
const TARGET: &str = "nest";

/// `value` negated, children reversed, all the way down.
fn mirror(tree: &Tree) -> Tree {
    Tree {
        value: tree.value.wrapping_neg(),
        children: tree.children.iter().rev().map(mirror).collect(),
    }
}

fn eval(expr: &Expr) -> f64 {
    match expr {
        Expr::Num(n) => *n,
        Expr::Add(a, b) => eval(a) + eval(b),
        Expr::List(items) => items.iter().map(eval).sum(),
    }
}

/// Handles `M` by replying with `answer(message)`, streaming `parts(message)`
/// after it, and broadcasting the message.
fn serve_nested<M, R, P>(
    actor: &mut ActorBuilder<()>,
    broker: &Broker,
    answer: fn(&M) -> R,
    parts: fn(&M) -> Vec<P>,
) where
    M: ActonMessage + Clone,
    R: ActonMessage,
    P: ActonMessage,
{
    let broker = broker.clone();
    actor.act_on::<M>(move |_actor, ctx| {
        let message = ctx.message().clone();
        let reply = ctx.reply_envelope();
        let broker = broker.clone();
        Reply::pending(async move {
            if reply.deliver(answer(&message)).await.is_err() {
                return;
            }
            for part in parts(&message) {
                if reply.deliver(part).await.is_err() {
                    break;
                }
            }
            broker.broadcast(message).await;
        })
    });
}

struct Harness {
    tokio: tokio::runtime::Runtime,
    socket: std::path::PathBuf,
    _listener: acton_reactive::ipc::IpcListenerHandle,
    _actors: ActorRuntime,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let tokio = tokio::runtime::Runtime::new().expect("tokio");
        let socket =
            std::env::temp_dir().join(format!("acton-fuzz-nested-{}.sock", std::process::id()));
        let (listener, actors) = tokio.block_on(async {
            let runtime = ActonApp::launch();
            let registry = runtime.ipc_registry();
            registry.register::<Tree>("Tree");
            registry.register::<Expr>("Expr");
            registry.register::<Shape>("Shape");
            registry.register::<Loose>("Loose");
            registry.register::<Chain>("Chain");
            registry.register::<Forest>("Forest");
            let broker = runtime.broker();
            let mut actor = runtime.new_actor::<()>();
            serve_nested::<Tree, _, _>(&mut actor, &broker, mirror, |t| t.children.clone());
            serve_nested::<Expr, _, _>(
                &mut actor,
                &broker,
                |e| Expr::Num(eval(e)),
                |e| match e {
                    Expr::List(items) => items.clone(),
                    Expr::Add(a, b) => vec![(**a).clone(), (**b).clone()],
                    Expr::Num(_) => Vec::new(),
                },
            );
            serve_nested::<Shape, _, Shape>(&mut actor, &broker, Shape::clone, |s| match s {
                Shape::Node { extra, .. } => extra.values().flatten().cloned().collect(),
                Shape::Leaf { .. } => Vec::new(),
            });
            serve_nested::<Loose, _, Loose>(&mut actor, &broker, Loose::clone, |l| match l {
                Loose::Many(items) => items.clone(),
                Loose::Map(map) => map.values().cloned().collect(),
                _ => Vec::new(),
            });
            serve_nested::<Chain, _, Chain>(&mut actor, &broker, Chain::clone, |c| {
                c.next.iter().map(|next| (**next).clone()).collect()
            });
            serve_nested::<Forest, _, Tree>(&mut actor, &broker, Forest::clone, |f| {
                f.trees.values().flatten().cloned().collect()
            });
            runtime.ipc_expose(TARGET, actor.start().await);
            let listener = runtime
                .start_ipc_listener_with_config(IpcConfig {
                    socket_path: socket.clone(),
                    max_connections: 1000,
                    ..IpcConfig::default()
                })
                .await
                .expect("listener");
            (listener, runtime)
        });
        Harness {
            tokio,
            socket,
            _listener: listener,
            _actors: actors,
        }
    })
}

// ---------------------------------------------------------------------------
// Reading the input

struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte; zero once the input is used up.
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((first, rest)) => {
                self.data = rest;
                *first
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    fn int(&mut self) -> i64 {
        match self.byte() % 4 {
            0 => i64::from(self.byte()),
            1 => -i64::from(self.u16()),
            2 => i64::MAX - i64::from(self.byte()),
            _ => i64::from_be_bytes(std::array::from_fn(|_| self.byte())),
        }
    }

    fn take(&mut self, len: usize) -> &[u8] {
        let (taken, rest) = self.data.split_at(len.min(self.data.len()));
        self.data = rest;
        taken
    }

    /// A name: a registered one, a pattern, or text from the input (sometimes
    /// above the server's 256-byte name limit).
    fn name(&mut self) -> String {
        const KNOWN: [&str; 10] = [
            "Tree", "Expr", "Shape", "Loose", "Chain", "Forest", "*", "T*", "", "Nope",
        ];
        let b = self.byte();
        if b < 0xc0 {
            return KNOWN[usize::from(b) % KNOWN.len()].to_owned();
        }
        let len = usize::from(self.byte() % 32);
        let text = String::from_utf8_lossy(self.take(len)).into_owned();
        if b & 1 == 1 {
            text.repeat(300 / text.len().max(1) + 1)
        } else {
            text
        }
    }
}

// ---------------------------------------------------------------------------
// Values, and their JSON and MessagePack encodings

/// A value to encode; `Raw` is spliced in as already-encoded bytes.
enum Val {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Arr(Vec<Val>),
    Map(Vec<(String, Val)>),
    Raw(Vec<u8>),
}

fn map(fields: Vec<(&str, Val)>) -> Val {
    Val::Map(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn json(val: &Val, out: &mut Vec<u8>) {
    match val {
        Val::Null => out.extend_from_slice(b"null"),
        Val::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Val::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Val::UInt(u) => out.extend_from_slice(u.to_string().as_bytes()),
        Val::Float(f) if f.is_finite() => out.extend_from_slice(format!("{f:?}").as_bytes()),
        Val::Float(_) => out.extend_from_slice(b"0.0"),
        Val::Str(s) => json_str(s, out),
        Val::Arr(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json(item, out);
            }
            out.push(b']');
        }
        Val::Map(fields) => {
            out.push(b'{');
            for (i, (key, value)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_str(key, out);
                out.push(b':');
                json(value, out);
            }
            out.push(b'}');
        }
        Val::Raw(bytes) => out.extend_from_slice(bytes),
    }
}

fn json_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            c if u32::from(c) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", u32::from(c)).as_bytes())
            }
            c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out.push(b'"');
}

fn msgpack(val: &Val, out: &mut Vec<u8>) {
    match val {
        Val::Null => out.push(0xc0),
        Val::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Val::Int(i) if (0..128).contains(i) => out.push(*i as u8),
        Val::Int(i) => {
            out.push(0xd3);
            out.extend_from_slice(&i.to_be_bytes());
        }
        Val::UInt(u) => {
            out.push(0xcf);
            out.extend_from_slice(&u.to_be_bytes());
        }
        Val::Float(f) => {
            out.push(0xcb);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Val::Str(s) => msgpack_str(s, out),
        Val::Arr(items) => {
            msgpack_len(out, items.len(), 0x90, 0xdc);
            items.iter().for_each(|item| msgpack(item, out));
        }
        Val::Map(fields) => {
            msgpack_len(out, fields.len(), 0x80, 0xde);
            for (key, value) in fields {
                msgpack_str(key, out);
                msgpack(value, out);
            }
        }
        Val::Raw(bytes) => out.extend_from_slice(bytes),
    }
}

fn msgpack_str(s: &str, out: &mut Vec<u8>) {
    if s.len() < 32 {
        out.push(0xa0 | s.len() as u8);
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
}

/// An array or map header: the fix form below 16 entries, else the 32-bit one
/// (`wide` is the 16-bit marker; the 32-bit one follows it).
fn msgpack_len(out: &mut Vec<u8>, len: usize, fix: u8, wide: u8) {
    if len < 16 {
        out.push(fix | len as u8);
    } else {
        out.push(wide + 1);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn encode(val: &Val, msgpack_format: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if msgpack_format {
        msgpack(val, &mut out);
    } else {
        json(val, &mut out);
    }
    out
}

// ---------------------------------------------------------------------------
// Payloads of the registered types, built from the input

/// Deeper than serde_json's recursion limit (128), well short of the stack.
const MAX_DEPTH: u32 = 160;

#[derive(Clone, Copy)]
enum Ty {
    Tree,
    Expr,
    Shape,
    Loose,
    Chain,
    Forest,
}

const TYS: [Ty; 6] = [
    Ty::Tree,
    Ty::Expr,
    Ty::Shape,
    Ty::Loose,
    Ty::Chain,
    Ty::Forest,
];

/// Builds a value of `ty` (or, now and then, of the wrong shape). `budget`
/// bounds the number of nodes.
fn gen(ty: Ty, input: &mut Input, depth: u32, budget: &mut u32) -> Val {
    let deeper = depth < MAX_DEPTH && *budget > 0 && !input.is_empty();
    *budget = budget.saturating_sub(1);
    let b = if deeper { input.byte() } else { 0 };
    if b == 0xff {
        return wild(input, depth, budget);
    }
    let fanout = |input: &mut Input| {
        if deeper {
            usize::from(input.byte() % 5)
        } else {
            0
        }
    };
    match ty {
        Ty::Tree => {
            let value = Val::Int(input.int());
            let n = fanout(input);
            let children = (0..n)
                .map(|_| gen(Ty::Tree, input, depth + 1, budget))
                .collect();
            map(vec![("value", value), ("children", Val::Arr(children))])
        }
        Ty::Expr => match b % 3 {
            0 => map(vec![
                ("op", Val::Str("Num".into())),
                ("args", Val::Float(f64::from(input.byte() as i8) / 4.0)),
            ]),
            1 => {
                let a = gen(Ty::Expr, input, depth + 1, budget);
                let b = gen(Ty::Expr, input, depth + 1, budget);
                map(vec![
                    ("op", Val::Str("Add".into())),
                    ("args", Val::Arr(vec![a, b])),
                ])
            }
            _ => {
                let n = fanout(input);
                let items = (0..n)
                    .map(|_| gen(Ty::Expr, input, depth + 1, budget))
                    .collect();
                map(vec![
                    ("op", Val::Str("List".into())),
                    ("args", Val::Arr(items)),
                ])
            }
        },
        Ty::Shape => {
            if b % 2 == 0 {
                return map(vec![
                    ("kind", Val::Str("Leaf".into())),
                    ("v", Val::Int(input.int())),
                ]);
            }
            let next = if input.byte() & 1 == 0 {
                Val::Null
            } else {
                gen(Ty::Shape, input, depth + 1, budget)
            };
            let n = fanout(input);
            let list = (0..n)
                .map(|_| gen(Ty::Shape, input, depth + 1, budget))
                .collect();
            let extra = Val::Map(vec![(input.name(), Val::Arr(list))]);
            map(vec![
                ("kind", Val::Str("Node".into())),
                ("next", next),
                ("extra", extra),
            ])
        }
        Ty::Loose => match b % 4 {
            0 => Val::Int(input.int()),
            1 => Val::Str(input.name()),
            2 => {
                let n = fanout(input);
                Val::Arr(
                    (0..n)
                        .map(|_| gen(Ty::Loose, input, depth + 1, budget))
                        .collect(),
                )
            }
            _ => {
                let n = fanout(input);
                Val::Map(
                    (0..n)
                        .map(|_| (input.name(), gen(Ty::Loose, input, depth + 1, budget)))
                        .collect(),
                )
            }
        },
        Ty::Chain => {
            let next = if b % 4 == 0 || !deeper {
                Val::Null
            } else {
                gen(Ty::Chain, input, depth + 1, budget)
            };
            let n = fanout(input);
            let tags = Val::Arr((0..n).map(|_| Val::Int(i64::from(input.u16()))).collect());
            map(vec![
                ("next", next),
                ("tags", Val::Map(vec![(input.name(), tags)])),
            ])
        }
        Ty::Forest => {
            let n = fanout(input);
            let trees = (0..n)
                .map(|_| gen(Ty::Tree, input, depth + 1, budget))
                .collect();
            let n = fanout(input);
            let exprs = (0..n)
                .map(|_| gen(Ty::Expr, input, depth + 1, budget))
                .collect();
            map(vec![
                ("trees", Val::Map(vec![(input.name(), Val::Arr(trees))])),
                ("exprs", Val::Arr(exprs)),
            ])
        }
    }
}

/// A value of no particular shape.
fn wild(input: &mut Input, depth: u32, budget: &mut u32) -> Val {
    let deeper = depth < MAX_DEPTH && *budget > 0 && !input.is_empty();
    *budget = budget.saturating_sub(1);
    match input.byte() % 8 {
        0 => Val::Null,
        1 => Val::Bool(input.byte() & 1 == 0),
        2 => Val::Int(input.int()),
        3 => Val::Float(f64::from_bits(u64::from_be_bytes(std::array::from_fn(
            |_| input.byte(),
        )))),
        4 => Val::Str(input.name()),
        5 if deeper => {
            let n = usize::from(input.byte() % 5);
            Val::Arr((0..n).map(|_| wild(input, depth + 1, budget)).collect())
        }
        6 if deeper => {
            let n = usize::from(input.byte() % 5);
            Val::Map(
                (0..n)
                    .map(|_| (input.name(), wild(input, depth + 1, budget)))
                    .collect(),
            )
        }
        _ => {
            let len = usize::from(input.byte() % 16);
            Val::Raw(input.take(len).to_vec())
        }
    }
}

/// A payload nested `depth` levels deep (up to what fits in a 1 MiB frame), in
/// one of four shapes; unclosed when `truncated`.
fn deep(shape: u8, depth: usize, msgpack_format: bool, truncated: bool) -> (String, Vec<u8>) {
    let (name, open, leaf, close): (&str, &[u8], &[u8], &[u8]) = match (msgpack_format, shape % 4) {
        (false, 0) => ("Loose", b"[", b"1", b"]"),
        (false, 1) => ("Loose", b"{\"a\":", b"\"x\"", b"}"),
        (false, 2) => ("Tree", b"{\"value\":1,\"children\":[", b"", b"]}"),
        (false, _) => ("Expr", b"{\"op\":\"List\",\"args\":[", b"", b"]}"),
        (true, 0) => ("Loose", &[0x91], &[0x01], &[]),
        (true, 1) => ("Loose", &[0x81, 0xa1, b'a'], &[0xa1, b'x'], &[]),
        (true, 2) => (
            "Tree",
            b"\x82\xa5value\x01\xa8children\x91",
            b"\x82\xa5value\x01\xa8children\x90",
            &[],
        ),
        (true, _) => (
            "Expr",
            b"\x82\xa2op\xa4List\xa4args\x91",
            b"\x82\xa2op\xa3Num\xa4args\xcb\x3f\xf0\0\0\0\0\0\0",
            &[],
        ),
    };
    let depth = depth.min((1024 * 1024 - 512) / (open.len() + close.len()));
    let mut out = Vec::with_capacity(depth * (open.len() + close.len()) + leaf.len());
    for _ in 0..depth {
        out.extend_from_slice(open);
    }
    if !truncated {
        out.extend_from_slice(leaf);
        for _ in 0..depth {
            out.extend_from_slice(close);
        }
    }
    (name.to_owned(), out)
}

// ---------------------------------------------------------------------------
// Frames

fn frame(kind: MessageKind, msgpack_format: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(7 + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&[
        0x02,
        kind.as_byte(),
        if msgpack_format { 0x02 } else { 0x01 },
    ]);
    out.extend_from_slice(payload);
    out
}

/// A REQUEST envelope around an already-encoded payload; `mode` picks the
/// reply style, the target and the deadline.
fn request(id: String, message_type: String, payload: Vec<u8>, mode: u8, mp: bool) -> Vec<u8> {
    let target = if mode & 0x04 == 0 { TARGET } else { "nobody" };
    let timeout = [30_000, 0, 5, u64::MAX][usize::from((mode >> 3) % 4)];
    let envelope = map(vec![
        ("correlation_id", Val::Str(id)),
        ("target", Val::Str(target.to_owned())),
        ("message_type", Val::Str(message_type)),
        ("expects_reply", Val::Bool(mode & 1 == 1)),
        ("expects_stream", Val::Bool(mode & 2 == 2)),
        ("response_timeout_ms", Val::UInt(timeout)),
        ("payload", Val::Raw(payload)),
    ]);
    frame(MessageKind::Request, mp, &encode(&envelope, mp))
}

fn names_frame(kind: MessageKind, field: &str, id: String, input: &mut Input) -> Vec<u8> {
    let mp = input.byte() % 2 == 1;
    let count = input.byte() % 4;
    let names = (0..count).map(|_| Val::Str(input.name())).collect();
    let body = map(vec![
        ("correlation_id", Val::Str(id)),
        (field, Val::Arr(names)),
    ]);
    frame(kind, mp, &encode(&body, mp))
}

const MAX_FRAMES: usize = 32;

/// The frames an input stands for.
fn script(input: &mut Input) -> Vec<u8> {
    let mut out = Vec::new();
    let mut n = 0;
    while !input.is_empty() && n < MAX_FRAMES {
        n += 1;
        let op = input.byte();
        let flags = input.byte();
        // Now and then reuse an id, so that a duplicate is in flight.
        let id = if flags & 0x80 != 0 {
            "dup".to_owned()
        } else {
            format!("c{n}")
        };
        let mp = flags & 0x40 != 0;
        let bytes = match op % 9 {
            0 | 1 => {
                let pick = usize::from(input.byte()) % (TYPES.len() + 1);
                let (name, payload) = match TYS.get(pick) {
                    Some(ty) => {
                        let mut budget = 2000;
                        let val = gen(*ty, input, 0, &mut budget);
                        (TYPES[pick].to_owned(), encode(&val, mp))
                    }
                    None => (input.name(), encode(&wild(input, 0, &mut 200), mp)),
                };
                request(id, name, payload, flags, mp)
            }
            2 => {
                let shape = input.byte();
                let depth = usize::from(input.u16());
                let (name, payload) = deep(shape, depth, mp, shape & 0x80 != 0);
                request(id, name, payload, flags, mp)
            }
            3 => names_frame(MessageKind::Subscribe, "message_types", id, input),
            4 => names_frame(MessageKind::SubscribePatterns, "patterns", id, input),
            5 => names_frame(MessageKind::Unsubscribe, "message_types", id, input),
            6 => names_frame(MessageKind::UnsubscribePatterns, "patterns", id, input),
            7 if flags & 1 == 0 => frame(MessageKind::Discover, false, b""),
            7 => {
                let body = map(vec![
                    ("correlation_id", Val::Str(id)),
                    ("include_actors", Val::Bool(flags & 2 != 0)),
                    ("include_message_types", Val::Bool(flags & 4 != 0)),
                ]);
                frame(MessageKind::Discover, mp, &encode(&body, mp))
            }
            _ => frame(MessageKind::Heartbeat, false, b""),
        };
        out.extend(bytes);
    }
    out
}

// ---------------------------------------------------------------------------
// Answers

/// Reads what the server sends until it closes or `patience` passes.
async fn read_answers(stream: &mut UnixStream, patience: Duration) -> Vec<u8> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut answers = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    while let Ok(Ok(read)) = tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
        if read == 0 {
            break;
        }
        answers.extend_from_slice(&chunk[..read]);
    }
    answers
}

/// Every complete frame the server sent is well-formed and of a server kind.
/// With `NESTED_PAYLOADS_SHOW` set, prints each (to see what an input does:
/// run the target on that one file).
fn check_answers(answers: &[u8]) {
    let show = std::env::var_os("NESTED_PAYLOADS_SHOW").is_some();
    let mut codec = FrameCodec::new(MAX_FRAME_SIZE_HARD_LIMIT);
    let mut buffer = BytesMut::from(answers);
    loop {
        match codec.decode(&mut buffer) {
            Ok(Some(frame)) => {
                if show {
                    let start = &frame.payload[..frame.payload.len().min(160)];
                    eprintln!(
                        "{:?} {:?} {} bytes: {}",
                        frame.kind,
                        frame.format,
                        frame.payload.len(),
                        String::from_utf8_lossy(start).escape_debug()
                    );
                }
                assert_eq!(frame.version, 0x02, "the server answers with version 2");
                assert!(
                    matches!(
                        frame.kind,
                        MessageKind::Response
                            | MessageKind::Error
                            | MessageKind::Heartbeat
                            | MessageKind::Push
                            | MessageKind::Stream
                    ),
                    "the server sent a client kind: {:?}",
                    frame.kind
                );
            }
            Ok(None) => break,
            Err(error) => panic!("the server sent a malformed frame: {error}"),
        }
    }
}

/// A well-behaved client is served, nested answers included.
async fn check_still_serving(harness: &Harness) {
    let client = IpcClient::connect(&harness.socket)
        .await
        .expect("still accepting");
    let tree = Tree {
        value: 1,
        children: vec![Tree {
            value: 2,
            children: Vec::new(),
        }],
    };
    let answer: Tree = client
        .request(TARGET, "Tree", &tree)
        .await
        .expect("still serving Tree");
    assert_eq!(answer, mirror(&tree));
    let sum = Expr::Add(Box::new(Expr::Num(40.0)), Box::new(Expr::Num(2.0)));
    let answer: Expr = client
        .request(TARGET, "Expr", &sum)
        .await
        .expect("still serving Expr");
    assert_eq!(answer, Expr::Num(42.0));
}

fuzz_target!(|data: &[u8]| {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let harness = harness();
    let bytes = script(&mut Input { data });
    harness.tokio.block_on(async {
        let mut stream = UnixStream::connect(&harness.socket).await.expect("connect");
        let _ = stream.write_all(&bytes).await;
        let _ = stream.shutdown().await;
        let answers = read_answers(&mut stream, Duration::from_millis(200)).await;
        drop(stream);
        check_answers(&answers);

        if RUNS.fetch_add(1, Ordering::Relaxed).is_multiple_of(256) {
            check_still_serving(harness).await;
        }
    });
});

//! Stage 2's output: the validated, resolved schema. Emitters see only this.
//!
//! Every reference is resolved to an index into [`Schema::types`]; every name is
//! known to be legal; every rule of the schema language holds.

/// A validated schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// The schema file's name, as given.
    pub source: String,
    /// `package:`: prefixes every wire type name (`shop.AddRequest`).
    pub package: Option<String>,
    /// `doc:`.
    pub doc: Option<String>,
    /// Every named type, in file order, then every error (`is_error`).
    pub types: Vec<TypeDef>,
    /// Every service, in file order.
    pub services: Vec<Service>,
    /// The files it imports, directly or not, each before those that import it.
    pub imports: Vec<Import>,
}

/// A schema file imported by the root schema (directly or not): its types are in
/// [`Schema::types`] with its package.
#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    /// Its `package:`.
    pub package: String,
    /// Its file, as named in diagnostics.
    pub source: String,
}

impl Schema {
    /// The type at `index`.
    pub fn ty(&self, index: TypeIndex) -> &TypeDef {
        &self.types[index.0]
    }

    /// The declared errors.
    pub fn errors(&self) -> impl Iterator<Item = (TypeIndex, &TypeDef)> {
        self.types
            .iter()
            .enumerate()
            .filter(|(_, def)| def.is_error)
            .map(|(i, def)| (TypeIndex(i), def))
    }
}

/// Refers to an entry of [`Schema::types`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeIndex(pub usize);

/// A named type.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeDef {
    /// Its name in the schema (an identifier).
    pub name: String,
    /// The name it is registered under on the wire (with the package prefix).
    pub wire_name: String,
    /// `doc:`.
    pub doc: Option<String>,
    /// `deprecated:`: `Some("")` without a reason.
    pub deprecated: Option<String>,
    /// What it is.
    pub kind: TypeKind,
    /// Declared under `errors:`: a struct that travels only as the failure of a
    /// call (an ERROR frame's `error_code` and `payload`), never as a message.
    pub is_error: bool,
    /// `open: true` (an enum or a union): a value or variant this code does not
    /// know reads as `Unknown`, keeping its wire form, instead of failing.
    pub open: bool,
    /// `reserved:`: names its fields, values or variants may never take again.
    pub reserved: Vec<String>,
    /// The package of the file that declares it (`None` for a root schema
    /// without `package:`).
    pub package: Option<String>,
}

impl TypeDef {
    /// Whether it is declared by an imported file rather than the root schema.
    pub fn is_imported(&self, schema: &Schema) -> bool {
        self.package != schema.package
    }

    /// How the root schema names it: `Money`, or `common.Money` when an
    /// imported file declares it.
    pub fn qualified_name(&self, schema: &Schema) -> String {
        match &self.package {
            Some(package) if self.is_imported(schema) => format!("{package}.{}", self.name),
            _ => self.name.clone(),
        }
    }
}

impl TypeDef {
    /// Every field the type holds: a struct's, or those of all a union's
    /// variants; none for an enum.
    pub fn fields(&self) -> Box<dyn Iterator<Item = &Field> + '_> {
        match &self.kind {
            TypeKind::Struct { fields } => Box::new(fields.iter()),
            TypeKind::Union { variants, .. } => {
                Box::new(variants.iter().flat_map(|v| v.fields.iter()))
            }
            TypeKind::Enum { .. } => Box::new(std::iter::empty()),
        }
    }
}

/// The three kinds of named types.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeKind {
    /// A struct; no fields is a unit message (`null` or `{}` on the wire).
    Struct {
        /// Its fields, in file order.
        fields: Vec<Field>,
    },
    /// A unit enum, on the wire as the variant's name.
    Enum {
        /// Its variants, in file order.
        variants: Vec<EnumVariant>,
    },
    /// A tagged union, internally tagged: `{"<tag>": "<variant>", ...fields}`.
    Union {
        /// The tag field's name.
        tag: String,
        /// Its variants, in file order.
        variants: Vec<UnionVariant>,
    },
}

/// A field.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Its name on the wire (as written in the schema).
    pub name: String,
    /// Its type.
    pub ty: TypeRef,
    /// `doc:`.
    pub doc: Option<String>,
    /// `default:`, checked against the type.
    pub default: Option<serde_json::Value>,
    /// `deprecated:`: `Some("")` without a reason.
    pub deprecated: Option<String>,
    /// The field refers back to a type that contains it (through an optional):
    /// languages with inline storage must box it.
    pub recursive: bool,
    /// `aliases:`: other names readers accept for it (former names); writers
    /// always use `name`.
    pub aliases: Vec<String>,
}

impl Field {
    /// Whether the field may be absent on the wire: optional, or with a default.
    pub fn may_be_absent(&self) -> bool {
        matches!(self.ty, TypeRef::Optional(_)) || self.default.is_some()
    }
}

/// A variant of a unit enum.
#[derive(Debug, Clone, PartialEq)]
pub struct EnumVariant {
    /// Its name on the wire.
    pub name: String,
    /// `doc:`.
    pub doc: Option<String>,
    /// `deprecated:`: `Some("")` without a reason.
    pub deprecated: Option<String>,
}

/// A variant of a tagged union.
#[derive(Debug, Clone, PartialEq)]
pub struct UnionVariant {
    /// Its tag value on the wire.
    pub name: String,
    /// `doc:`.
    pub doc: Option<String>,
    /// Its fields.
    pub fields: Vec<Field>,
}

/// A type expression.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeRef {
    /// A built-in scalar.
    Scalar(Scalar),
    /// `list<T>`.
    List(Box<TypeRef>),
    /// `map<string, T>`.
    Map(Box<TypeRef>),
    /// `T?`: may be absent or null.
    Optional(Box<TypeRef>),
    /// A named type.
    Named(TypeIndex),
}

impl TypeRef {
    /// The type as the schema language writes it (`list<Point>?`): the one
    /// printer of type expressions, for `diff`, the docs and messages.
    pub fn schema_text(&self, schema: &Schema) -> String {
        match self {
            Self::Scalar(scalar) => scalar.name().to_owned(),
            Self::List(inner) => format!("list<{}>", inner.schema_text(schema)),
            Self::Map(inner) => format!("map<string, {}>", inner.schema_text(schema)),
            Self::Optional(inner) => format!("{}?", inner.schema_text(schema)),
            Self::Named(index) => schema.ty(*index).qualified_name(schema),
        }
    }

    /// The named type the expression mentions, if any (`Point` in
    /// `list<Point>?`): every expression holds at most one.
    pub fn named(&self) -> Option<TypeIndex> {
        match self {
            Self::Scalar(_) => None,
            Self::List(inner) | Self::Map(inner) | Self::Optional(inner) => inner.named(),
            Self::Named(index) => Some(*index),
        }
    }
}

/// The built-in scalars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scalar {
    /// `bool`
    Bool,
    /// `i8`
    I8,
    /// `i16`
    I16,
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `u8`
    U8,
    /// `u16`
    U16,
    /// `u32`
    U32,
    /// `u64`
    U64,
    /// `f32`
    F32,
    /// `f64`
    F64,
    /// `string`
    String,
    /// `bytes`: base64 in JSON, bin in MessagePack.
    Bytes,
    /// `json`: any value.
    Json,
    /// `timestamp`: a point in time, RFC 3339 in UTC on the wire.
    Timestamp,
    /// `duration`: a non-negative length of time, `1.5s` on the wire.
    Duration,
}

impl Scalar {
    /// Every scalar with its schema name.
    pub const ALL: [(&'static str, Scalar); 16] = [
        ("bool", Scalar::Bool),
        ("i8", Scalar::I8),
        ("i16", Scalar::I16),
        ("i32", Scalar::I32),
        ("i64", Scalar::I64),
        ("u8", Scalar::U8),
        ("u16", Scalar::U16),
        ("u32", Scalar::U32),
        ("u64", Scalar::U64),
        ("f32", Scalar::F32),
        ("f64", Scalar::F64),
        ("string", Scalar::String),
        ("bytes", Scalar::Bytes),
        ("json", Scalar::Json),
        ("timestamp", Scalar::Timestamp),
        ("duration", Scalar::Duration),
    ];

    /// The scalar a schema name stands for.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
    }

    /// Whether this is one of the integer types (`i8` … `u64`).
    pub fn is_integer(self) -> bool {
        matches!(
            self,
            Self::I8
                | Self::I16
                | Self::I32
                | Self::I64
                | Self::U8
                | Self::U16
                | Self::U32
                | Self::U64
        )
    }

    /// Its schema name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("?", |(n, _)| n)
    }

    /// The range of an integer scalar.
    pub fn integer_range(self) -> Option<(i128, i128)> {
        Some(match self {
            Self::I8 => (i8::MIN.into(), i8::MAX.into()),
            Self::I16 => (i16::MIN.into(), i16::MAX.into()),
            Self::I32 => (i32::MIN.into(), i32::MAX.into()),
            Self::I64 => (i64::MIN.into(), i64::MAX.into()),
            Self::U8 => (0, u8::MAX.into()),
            Self::U16 => (0, u16::MAX.into()),
            Self::U32 => (0, u32::MAX.into()),
            Self::U64 => (0, u64::MAX.into()),
            _ => return None,
        })
    }
}

/// A service: the methods of one exposed actor.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// The name the actor is exposed under.
    pub name: String,
    /// `doc:`.
    pub doc: Option<String>,
    /// Its methods, in file order.
    pub methods: Vec<Method>,
    /// Types it broadcasts, which clients may subscribe to.
    pub pushes: Vec<TypeIndex>,
    /// Errors every method that answers may fail with (`errors:`).
    pub errors: Vec<TypeIndex>,
    /// `exclusive: true`: handlers take `&mut self` and run one at a time.
    pub exclusive: bool,
    /// `deprecated:`: `Some("")` without a reason.
    pub deprecated: Option<String>,
}

/// A method.
#[derive(Debug, Clone, PartialEq)]
pub struct Method {
    /// Its name.
    pub name: String,
    /// `doc:`.
    pub doc: Option<String>,
    /// The request type (which also routes the request to this method).
    pub request: TypeIndex,
    /// How it answers.
    pub kind: MethodKind,
    /// Every error it may fail with: its own, then its service's (none for
    /// fire-and-forget).
    pub errors: Vec<TypeIndex>,
    /// `deprecated:`: `Some("")` without a reason.
    pub deprecated: Option<String>,
}

/// How a method answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodKind {
    /// One reply of this type.
    Reply(TypeIndex),
    /// A stream of items of this type.
    Stream(TypeIndex),
    /// Fire-and-forget: acknowledged once delivered.
    FireAndForget,
}

/// A `duration` as the schema and the wire write it (`90s`, `1.5s`): whole
/// seconds and nanoseconds, or `None` when the text is not one.
///
/// ```
/// assert_eq!(acton_codegen::model::parse_duration("1.25s"), Some((1, 250_000_000)));
/// assert_eq!(acton_codegen::model::parse_duration("-1s"), None);
/// ```
pub fn parse_duration(text: &str) -> Option<(u64, u32)> {
    let body = text.strip_suffix('s')?;
    let (secs, fraction) = match body.split_once('.') {
        Some((secs, fraction)) => (secs, Some(fraction)),
        None => (body, None),
    };
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: u64 = secs.parse().ok()?;
    let nanos = match fraction {
        None => 0,
        Some(digits)
            if (1..=9).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            let value: u32 = digits.parse().ok()?;
            value * 10u32.pow(9 - u32::try_from(digits.len()).ok()?)
        }
        Some(_) => return None,
    };
    Some((secs, nanos))
}

//! Attribute macros for [`acton-reactive`](https://docs.rs/acton-reactive).
//!
//! Use them through `acton_reactive::prelude::*`; the expansions name every
//! dependency through `::acton_reactive::__private`, so a crate that depends on
//! `acton-reactive` alone (no direct `serde` or `tokio`) can use all of them.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Error, Item, ItemFn, Meta, Token};

/// Runs an `async fn main` on a multi-threaded Tokio runtime.
///
/// ```
/// use acton_reactive::prelude::*;
///
/// #[acton_main]
/// async fn main() -> anyhow::Result<()> {
///     let mut runtime = ActonApp::launch();
///     runtime.shutdown_all().await?;
///     Ok(())
/// }
/// ```
///
/// `#[acton_main(flavor = "current_thread")]` selects the single-threaded runtime,
/// `#[acton_main(worker_threads = 4)]` fixes the number of worker threads.
#[proc_macro_attribute]
pub fn acton_main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_main(args.into(), item.into())
        .unwrap_or_else(Error::into_compile_error)
        .into()
}

/// Marks a type as an actor message.
///
/// `#[acton_message]` derives `Clone` and `Debug`. `#[acton_message(ipc)]` also
/// derives serde's `Serialize` and `Deserialize` (through the copy of serde that
/// `acton-reactive` re-exports), so the type can be registered for IPC with
/// `runtime.ipc_registry().register::<T>("Name")`. Structs (unit structs such as
/// `struct HealthCheck;` included) and enums are accepted.
///
/// ```
/// use acton_reactive::prelude::*;
///
/// #[acton_message(ipc)]
/// struct AddRequest { a: i64, b: i64 }
///
/// #[acton_message(ipc)]
/// struct HealthCheck;
///
/// #[acton_message(ipc)]
/// enum Side { Buy, Sell }
///
/// fn is_ipc_ready<T: serde::Serialize + serde::de::DeserializeOwned + Clone + std::fmt::Debug>() {}
/// # use acton_reactive::__private::serde;
/// is_ipc_ready::<AddRequest>();
/// is_ipc_ready::<HealthCheck>();
/// is_ipc_ready::<Side>();
/// ```
#[proc_macro_attribute]
pub fn acton_message(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_message(args.into(), item.into())
        .unwrap_or_else(Error::into_compile_error)
        .into()
}

/// Marks a struct as actor state: derives `Default` and `Debug`.
///
/// ```
/// use acton_reactive::prelude::*;
///
/// #[acton_actor]
/// struct Counter { count: u64 }
///
/// assert_eq!(format!("{:?}", Counter::default()), "Counter { count: 0 }");
/// ```
#[proc_macro_attribute]
pub fn acton_actor(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_actor(args.into(), item.into())
        .unwrap_or_else(Error::into_compile_error)
        .into()
}

fn expand_main(args: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let function: ItemFn = syn::parse2(item)?;
    if function.sig.asyncness.is_none() {
        return Err(Error::new(
            function.sig.fn_token.span(),
            "#[acton_main] needs an `async fn`",
        ));
    }
    if !function.sig.inputs.is_empty() {
        return Err(Error::new(
            function.sig.inputs.span(),
            "#[acton_main] functions take no arguments",
        ));
    }

    let mut current_thread = false;
    let mut worker_threads: Option<syn::LitInt> = None;
    let options = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    for option in options {
        let Meta::NameValue(pair) = &option else {
            return Err(Error::new(
                option.span(),
                "expected `flavor = \"...\"` or `worker_threads = N`",
            ));
        };
        let value = &pair.value;
        if pair.path.is_ident("flavor") {
            let flavor: syn::LitStr = syn::parse2(quote!(#value))?;
            match flavor.value().as_str() {
                "multi_thread" => current_thread = false,
                "current_thread" => current_thread = true,
                _ => {
                    return Err(Error::new(
                        flavor.span(),
                        "flavor is `multi_thread` (the default) or `current_thread`",
                    ))
                }
            }
        } else if pair.path.is_ident("worker_threads") {
            worker_threads = Some(syn::parse2(quote!(#value))?);
        } else {
            return Err(Error::new(
                pair.path.span(),
                "unknown option: expected `flavor` or `worker_threads`",
            ));
        }
    }
    if current_thread && worker_threads.is_some() {
        return Err(Error::new(
            proc_macro2::Span::call_site(),
            "`worker_threads` only applies to the `multi_thread` flavor",
        ));
    }

    let builder = if current_thread {
        quote!(new_current_thread())
    } else {
        quote!(new_multi_thread())
    };
    let threads = worker_threads.map(|n| quote!(.worker_threads(#n)));
    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
    } = function;
    sig.asyncness = None;
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            let body = async move #block;
            #[allow(clippy::expect_used)]
            ::acton_reactive::__private::tokio::runtime::Builder::#builder
                #threads
                .enable_all()
                .build()
                .expect("acton_main: could not start the Tokio runtime")
                .block_on(body)
        }
    })
}

fn expand_message(args: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let options = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    let mut ipc = false;
    for option in options {
        match &option {
            Meta::Path(path) if path.is_ident("ipc") => ipc = true,
            _ => {
                return Err(Error::new(
                    option.span(),
                    "unknown option: `#[acton_message]` takes nothing or `ipc`",
                ))
            }
        }
    }
    let item: Item = syn::parse2(item)?;
    if !matches!(item, Item::Struct(_) | Item::Enum(_)) {
        return Err(Error::new(
            item.span(),
            "#[acton_message] applies to a struct or an enum",
        ));
    }
    let serde = ipc.then(|| {
        quote! {
            #[derive(
                ::acton_reactive::__private::serde::Serialize,
                ::acton_reactive::__private::serde::Deserialize
            )]
            #[serde(crate = "::acton_reactive::__private::serde")]
        }
    });
    Ok(quote! {
        #[derive(::core::clone::Clone, ::core::fmt::Debug)]
        #serde
        #item
    })
}

fn expand_actor(args: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    if !args.is_empty() {
        return Err(Error::new(args.span(), "#[acton_actor] takes no options"));
    }
    let item: Item = syn::parse2(item)?;
    if !matches!(item, Item::Struct(_)) {
        return Err(Error::new(
            item.span(),
            "#[acton_actor] applies to a struct",
        ));
    }
    Ok(quote! {
        #[derive(::core::default::Default, ::core::fmt::Debug)]
        #item
    })
}

//! What instances and sync groups share: `track_interface { }`, `track_script { }`, the
//! `notify*` scripts, and reading a command line.

use super::{
    At, TrackRefDraft,
    ctx::{Ctx, interface_name_problem},
};
use crate::config::{
    lexer::Word,
    model::{Notify, NotifyScript, RunAs, TrackInterface},
    tree::Node,
    value::split_shell,
};

/// The command of `script "CMD ARGS"` or `notify_master "CMD ARGS" [USER [GROUP]]`, split as
/// keepalived does, plus the words after it. Words beyond `max_words` (keyword included) are
/// reported.
pub(super) fn command_line(
    ctx: &mut Ctx<'_>,
    kw: &Node,
    max_words: usize,
) -> Option<(Vec<String>, Vec<String>)> {
    let expected = format!(
        "{}: expected a command line, quoted when it has arguments",
        kw.keyword()
    );
    let words = match split_shell(&kw.stmt.raw) {
        Ok(words) => words,
        // An odd number of '"' was reported by the lexer already.
        Err(_) if kw.stmt.raw.matches('"').count() % 2 == 1 => return None,
        Err(why) => {
            ctx.sink.error(
                kw.at(),
                format!("{}: cannot read the command line: {why}", kw.keyword()),
            );
            return None;
        }
    };
    let Some(command) = words.get(1) else {
        ctx.sink.error(kw.at(), expected);
        return None;
    };
    let argv = match split_shell(command) {
        Ok(argv) if !argv.is_empty() && !argv[0].is_empty() => argv,
        Ok(_) => {
            ctx.sink.error(kw.at(), expected);
            return None;
        }
        Err(why) => {
            ctx.sink.error(
                kw.at(),
                format!("{}: cannot read the command: {why}", kw.keyword()),
            );
            return None;
        }
    };
    if words.len() > max_words {
        let hint = if max_words == 2 {
            "; quote the whole command line to pass arguments"
        } else {
            ""
        };
        ctx.sink.warning(
            kw.at(),
            format!(
                "{}: '{}' and what follows is ignored{hint}",
                kw.keyword(),
                words[max_words]
            ),
        );
    }
    let rest = words
        .iter()
        .skip(2)
        .take(max_words.saturating_sub(2))
        .cloned()
        .collect();
    Some((argv, rest))
}

/// `notify_master`, `notify_backup`, `notify_fault`, `notify_stop`, `notify`. True when `kw`
/// was one of them.
pub(super) fn notify(ctx: &mut Ctx<'_>, kw: &Node, notify: &mut Notify) -> bool {
    let slot = match kw.keyword() {
        "notify_master" => &mut notify.master,
        "notify_backup" => &mut notify.backup,
        "notify_fault" => &mut notify.fault,
        "notify_stop" => &mut notify.stop,
        "notify" => &mut notify.any,
        "notify_deleted" => &mut notify.deleted,
        "notify_master_rx_lower_pri" => &mut notify.master_rx_lower_pri,
        _ => return false,
    };
    ctx.no_block(kw);
    if slot.is_some() {
        ctx.sink.warning(
            kw.at(),
            format!(
                "{} is already set; this one is ignored (keepalived keeps the first)",
                kw.keyword()
            ),
        );
        return true;
    }
    if let Some((command, rest)) = command_line(ctx, kw, 4) {
        let user = rest.first().map(|user| RunAs {
            user: user.clone(),
            group: rest.get(1).cloned(),
        });
        *slot = Some(Box::new(NotifyScript { command, user }));
    }
    true
}

/// What a `track_*` block names.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Script,
    Interface,
    File,
    Process,
}

impl Kind {
    fn keyword(self) -> &'static str {
        match self {
            Self::Script => "track_script",
            Self::Interface => "track_interface",
            Self::File => "track_file",
            Self::Process => "track_process",
        }
    }
}

/// `weight W [reverse|noreverse]` after a tracked name: the weight (None: not given, or
/// invalid and reported) and the direction. None when the line is to be dropped (unknown
/// option, weight without a value), as keepalived drops it. keepalived reads a script's
/// ±254 as ±253; files and processes take -254..254.
fn weight(ctx: &mut Ctx<'_>, kind: Kind, words: &[Word]) -> Option<(Option<i16>, Option<bool>)> {
    let what = kind.keyword();
    let max = if matches!(kind, Kind::File | Kind::Process) {
        254
    } else {
        253
    };
    let (Some(kw), name) = (words.get(1), &words[0].text) else {
        return Some((None, None));
    };
    if kw.text != "weight" {
        ctx.sink.warning_at(
            &kw.at,
            format!(
                "{what} {name}: unknown option '{}' (expected weight); ignored",
                kw.text
            ),
        );
        return None;
    }
    let Some(value) = words.get(2) else {
        ctx.sink.error_at(
            &kw.at,
            format!("{what} {name}: weight needs a value -{max}..{max}"),
        );
        return None;
    };
    let weight = match crate::config::value::int(&value.text) {
        Some(w @ (-254 | 254)) if max == 253 => {
            ctx.sink.warning_at(
                &value.at,
                format!("{what} {name}: weight cannot be {w}; using {}", w.signum() * 253),
            );
            Some(w.signum() * 253)
        }
        _ => ctx.check_int("weight", value, -max..=max),
    };
    let reverse = match words.get(3).map(|w| w.text.as_str()) {
        None => None,
        Some("reverse") => Some(true),
        Some("noreverse" | "no_reverse") => Some(false),
        Some(other) => {
            ctx.sink.warning_at(
                &words[3].at,
                format!("{what} {name}: unknown weight option '{other}' (expected reverse); ignored"),
            );
            None
        }
    };
    if let Some(extra) = words.get(4) {
        ctx.sink.warning_at(
            &extra.at,
            format!("{what} {name}: unexpected '{}'; ignored", extra.text),
        );
    }
    Some((weight.and_then(|w| i16::try_from(w).ok()), reverse))
}

/// `weight W [reverse]` inside a `vrrp_script`, `track_file` or
/// `vrrp_track_process` block, -max..=max: the weight (None when invalid,
/// reported) and whether `reverse` was given.
pub(super) fn definition_weight(ctx: &mut Ctx<'_>, kw: &Node, max: i64) -> (Option<i16>, bool) {
    ctx.no_block(kw);
    let weight = ctx
        .first(kw, &format!("a weight -{max}..{max} [reverse]"))
        .and_then(|w| ctx.check_int("weight", w, -max..=max))
        .and_then(|v| i16::try_from(v).ok());
    let mut reverse = false;
    if let Some(opt) = kw.stmt.words.get(2) {
        if opt.text == "reverse" {
            reverse = true;
        } else {
            ctx.sink.warning_at(
                &opt.at,
                format!(
                    "weight: unknown option '{}' (expected reverse); ignored",
                    opt.text
                ),
            );
        }
    }
    ctx.extra_words(kw, 3);
    (weight, reverse)
}

/// `track_interface { IFACE [weight W [reverse]] ... }`.
pub(super) fn interfaces(ctx: &mut Ctx<'_>, kw: &Node, out: &mut Vec<At<TrackInterface>>) {
    for line in ctx.value_lines(kw) {
        let words = &line.stmt.words;
        let name = &words[0];
        if let Some(problem) = interface_name_problem(&name.text) {
            ctx.sink
                .error_at(&name.at, format!("track_interface: '{}' {problem}", name.text));
            continue;
        }
        if out.iter().any(|t| t.v.name == name.text) {
            ctx.sink.warning_at(
                &name.at,
                format!("track_interface: {} is already tracked; ignored", name.text),
            );
            continue;
        }
        if let Some((weight, reverse)) = weight(ctx, Kind::Interface, words) {
            let track = TrackInterface {
                name: name.text.clone(),
                weight: weight.unwrap_or(0),
                reverse: reverse.unwrap_or(false),
            };
            out.push(At::new(track, &name.at));
        }
    }
}

/// `track_script|track_file|track_process { NAME [weight W [reverse|noreverse]] ... }`.
/// Names are resolved later.
pub(super) fn refs(ctx: &mut Ctx<'_>, kw: &Node, kind: Kind, out: &mut Vec<At<TrackRefDraft>>) {
    for line in ctx.value_lines(kw) {
        let words = &line.stmt.words;
        let name = &words[0];
        if out.iter().any(|t| t.v.name == name.text) {
            ctx.sink.warning_at(
                &name.at,
                format!("{}: {} is already tracked; ignored", kind.keyword(), name.text),
            );
            continue;
        }
        if let Some((weight, reverse)) = weight(ctx, kind, words) {
            let track = TrackRefDraft {
                name: name.text.clone(),
                weight,
                reverse,
            };
            out.push(At::new(track, &name.at));
        }
    }
}

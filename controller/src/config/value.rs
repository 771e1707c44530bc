//! Reading values: numbers, decimal seconds, booleans, and keepalived's shell-like splitting
//! of script command lines. Pure functions, no diagnostics.

/// A whole number without sign: decimal digits only, as keepalived's `read_unsigned`.
pub(crate) fn uint(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A whole number with an optional `+` or `-`.
pub(crate) fn int(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    let magnitude = i64::try_from(uint(digits)?).ok()?;
    Some(if text.starts_with('-') {
        -magnitude
    } else {
        magnitude
    })
}

/// Decimal seconds (`1`, `0.5`, `.25`, `3.`), up to microseconds, as microseconds.
pub(crate) fn decimal_us(text: &str) -> Option<u64> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole = if whole.is_empty() { 0 } else { uint(whole)? };
    let frac_us = if frac.is_empty() {
        0
    } else {
        let padded = format!("{frac:0<6}");
        uint(&padded)?
    };
    whole.checked_mul(1_000_000)?.checked_add(frac_us)
}

/// Microseconds as keepalived would print seconds: `1`, `0.5`, `0.05`.
pub(crate) fn show_us(us: u64) -> String {
    let (secs, frac) = (us / 1_000_000, us % 1_000_000);
    if frac == 0 {
        secs.to_string()
    } else {
        format!("{secs}.{frac:06}").trim_end_matches('0').to_owned()
    }
}

/// keepalived's booleans: `true`/`on`/`yes` and `false`/`off`/`no`.
pub(crate) fn boolean(text: &str) -> Option<bool> {
    match text {
        "true" | "on" | "yes" => Some(true),
        "false" | "off" | "no" => Some(false),
        _ => None,
    }
}

/// Splits a line into words as keepalived does for script command lines: blanks separate
/// words; `"..."` and `'...'` quote (and may join with text around them); `\` escapes
/// (`\n`, `\t`, `\xHH`, octal `\NNN`, `\cX`, or the character itself).
pub(crate) fn split_shell(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(char::is_ascii_whitespace).is_some() {}
        if chars.peek().is_none() {
            return Ok(words);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(&c) = chars.peek() {
            if quote.is_none() && c.is_ascii_whitespace() {
                break;
            }
            chars.next();
            match c {
                '\\' => word.push(escape(&mut chars)?),
                '"' | '\'' if quote.is_none() => quote = Some(c),
                c if Some(c) == quote => quote = None,
                c => word.push(c),
            }
        }
        if let Some(q) = quote {
            return Err(format!("missing closing {q}"));
        }
        words.push(word);
    }
}

fn escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<char, String> {
    let Some(c) = chars.next() else {
        return Err("'\\' at the end of the line escapes nothing".to_owned());
    };
    let digit = |c: char, radix: u32| c.to_digit(radix);
    Ok(match c {
        'x' if chars.peek().is_some_and(|&d| digit(d, 16).is_some()) => {
            let mut value = 0u32;
            for _ in 0..2 {
                match chars.peek().and_then(|&d| digit(d, 16)) {
                    Some(d) => {
                        value = value * 16 + d;
                        chars.next();
                    }
                    None => break,
                }
            }
            char::from_u32(value).unwrap_or('\u{fffd}')
        }
        'c' if chars.peek().is_some() => {
            let ctl = chars.next().map_or(0, |c| u32::from(c) & 0x1f);
            char::from_u32(ctl).unwrap_or('\u{fffd}')
        }
        '0'..='7' => {
            let mut value = digit(c, 8).unwrap_or(0);
            for _ in 0..2 {
                match chars.peek().and_then(|&d| digit(d, 8)) {
                    Some(d) => {
                        value = value * 8 + d;
                        chars.next();
                    }
                    None => break,
                }
            }
            char::from_u32(value & 0xff).unwrap_or('\u{fffd}')
        }
        'a' => '\u{7}',
        'b' => '\u{8}',
        'E' => '\u{1b}',
        'f' => '\u{c}',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\u{b}',
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_numbers() {
        assert_eq!(uint("255"), Some(255));
        assert_eq!(uint("007"), Some(7));
        for bad in [
            "",
            "-1",
            "+1",
            "1.0",
            "1e3",
            "0x10",
            " 1",
            "99999999999999999999999",
        ] {
            assert_eq!(uint(bad), None, "{bad}");
        }
    }

    #[test]
    fn signed_numbers() {
        assert_eq!(int("-20"), Some(-20));
        assert_eq!(int("+20"), Some(20));
        assert_eq!(int("20"), Some(20));
        assert_eq!(int("-"), None);
        assert_eq!(int("--1"), None);
    }

    #[test]
    fn decimal_seconds() {
        assert_eq!(decimal_us("1"), Some(1_000_000));
        assert_eq!(decimal_us("0.5"), Some(500_000));
        assert_eq!(decimal_us(".25"), Some(250_000));
        assert_eq!(decimal_us("3."), Some(3_000_000));
        assert_eq!(decimal_us("0.000001"), Some(1));
        for bad in ["", ".", "0.0000001", "1.2.3", "a", "-1", "1,5"] {
            assert_eq!(decimal_us(bad), None, "{bad}");
        }
        assert_eq!(show_us(1_000_000), "1");
        assert_eq!(show_us(50_000), "0.05");
        assert_eq!(show_us(40_950_000), "40.95");
    }

    #[test]
    fn booleans() {
        assert_eq!(boolean("on"), Some(true));
        assert_eq!(boolean("no"), Some(false));
        assert_eq!(boolean("1"), None);
    }

    #[test]
    fn shell_splitting() {
        assert_eq!(split_shell("/bin/a b  c").unwrap(), ["/bin/a", "b", "c"]);
        assert_eq!(
            split_shell("/bin/a 'b c' \"d e\"").unwrap(),
            ["/bin/a", "b c", "d e"]
        );
        assert_eq!(split_shell("pre'fix x'post").unwrap(), ["prefix xpost"]);
        assert_eq!(split_shell(r"a\ b \x41\101\n").unwrap(), ["a b", "AA\n"]);
        assert_eq!(split_shell("").unwrap(), Vec::<String>::new());
        assert!(split_shell("'open").is_err());
        assert!(split_shell("a\\").is_err());
    }
}

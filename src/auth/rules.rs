//! What account fields must look like, with the messages people see.

/// Field-level problems with a form, as `(field, message)`.
pub type FieldErrors = Vec<(&'static str, String)>;

pub const MAX_PASSWORD_BYTES: usize = 1024;
pub const MAX_EMAIL_CHARS: usize = 254;

/// 3–32 of letters, digits, `.`, `_`, `-`.
pub fn username_problem(username: &str) -> Option<String> {
    let len = username.chars().count();
    if !(3..=32).contains(&len) {
        return Some("Use 3 to 32 characters.".into());
    }
    if !username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Some("Use only letters, digits, '.', '_' and '-'.".into());
    }
    None
}

/// A plausible address: one `@`, something on both sides, a dot in the domain, no spaces.
pub fn email_problem(email: &str) -> Option<String> {
    let email = email.trim();
    let ok = email.chars().count() <= MAX_EMAIL_CHARS
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    (!ok).then(|| "Enter an email address like name@example.org.".into())
}

pub fn password_problem(password: &str) -> Option<String> {
    if password.chars().count() < 8 {
        return Some("Use at least 8 characters.".into());
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Some("Use at most 1024 characters.".into());
    }
    None
}

/// Check a new password and its confirmation, adding problems to `errors`.
pub fn check_new_password(
    errors: &mut FieldErrors,
    field: &'static str,
    password: &str,
    confirm: &str,
) {
    if let Some(p) = password_problem(password) {
        errors.push((field, p));
    } else if password != confirm {
        errors.push(("confirm", "The passwords do not match.".into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(username_problem("ann").is_none());
        assert!(username_problem("a.b_c-9").is_none());
        assert!(username_problem("ab").is_some());
        assert!(username_problem(&"a".repeat(33)).is_some());
        assert!(username_problem("ann'; DROP TABLE users;--").is_some());
        assert!(username_problem("zoë").is_some());
    }

    #[test]
    fn emails() {
        assert!(email_problem("ann@example.org").is_none());
        assert!(email_problem("ann@localhost").is_some());
        assert!(email_problem("ann example.org").is_some());
        assert!(email_problem("@example.org").is_some());
        assert!(email_problem("a@b@c.org").is_some());
    }

    #[test]
    fn passwords() {
        let mut errors = FieldErrors::new();
        check_new_password(&mut errors, "password", "longenough", "different");
        assert_eq!(errors[0].0, "confirm");
        let mut errors = FieldErrors::new();
        check_new_password(&mut errors, "password", "short", "short");
        assert_eq!(errors[0].0, "password");
    }
}

//! The valid ranges of the sampling options (mlx-lm's), in one place: the
//! command-line parsers of [`crate::cli::Sampling`] check them when the line is
//! parsed, and the runner checks every request's values against them.

/// Each rule returns the value when it is valid, else why not.
pub type Rule = fn(f32) -> Result<f32, String>;

/// Temperature: finite and ≥ 0 (0 is greedy).
pub fn temperature(v: f32) -> Result<f32, String> {
    at_least_zero("temperature", v)
}

/// Nucleus threshold: 0 to 1.
pub fn top_p(v: f32) -> Result<f32, String> {
    unit("top_p", v)
}

/// Minimum probability relative to the most likely token: 0 to 1.
pub fn min_p(v: f32) -> Result<f32, String> {
    unit("min_p", v)
}

/// Repetition penalty: finite and ≥ 0 (1 is off).
pub fn repetition_penalty(v: f32) -> Result<f32, String> {
    at_least_zero("repetition_penalty", v)
}

fn at_least_zero(name: &str, v: f32) -> Result<f32, String> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("{name} must be ≥ 0, got {v}"))
    }
}

fn unit(name: &str, v: f32) -> Result<f32, String> {
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{name} must be in [0, 1], got {v}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_mlx_lms() {
        assert_eq!(temperature(0.0), Ok(0.0));
        assert!(temperature(-0.1).unwrap_err().contains("≥ 0"));
        assert!(temperature(f32::NAN).is_err());
        assert_eq!(top_p(1.0), Ok(1.0));
        assert!(top_p(1.5).unwrap_err().contains("[0, 1]"));
        assert!(min_p(-0.5).is_err());
        assert_eq!(repetition_penalty(1.3), Ok(1.3));
        assert!(repetition_penalty(f32::INFINITY).is_err());
    }
}

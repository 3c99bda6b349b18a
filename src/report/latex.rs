//! LaTeX output: text escaped for LaTeX and the `verify` summary as a booktabs table
//! (`SUMMARY.tex`, beside `SUMMARY.md`).
//!
//! The table is a `table` float to `\input` into a paper; it needs `\usepackage{booktabs}` and
//! `\usepackage{array}` (for the `p{…}` columns). The ten LaTeX special characters are escaped,
//! and the Unicode symbols the claims use (Greek letters, `≤`, `≥`, `±`, `→`, `√`, `·`, `×`,
//! superscripts, …) are written as math-mode commands, so the file compiles with pdfLaTeX;
//! the dashes, `…`, `§` and accented letters are kept as they are (LaTeX reads UTF-8 input;
//! accented letters need `\usepackage[T1]{fontenc}`).

use crate::claims::ClaimReport;

/// A Unicode symbol and the LaTeX that writes it (math mode, in its own `$…$`).
const SYMBOLS: &[(char, &str)] = &[
    ('α', "\\alpha"),
    ('β', "\\beta"),
    ('γ', "\\gamma"),
    ('δ', "\\delta"),
    ('ε', "\\varepsilon"),
    ('ζ', "\\zeta"),
    ('θ', "\\theta"),
    ('κ', "\\kappa"),
    ('λ', "\\lambda"),
    ('Λ', "\\Lambda"),
    ('μ', "\\mu"),
    ('ξ', "\\xi"),
    ('π', "\\pi"),
    ('ρ', "\\rho"),
    ('σ', "\\sigma"),
    ('Σ', "\\Sigma"),
    ('τ', "\\tau"),
    ('φ', "\\varphi"),
    ('Φ', "\\Phi"),
    ('χ', "\\chi"),
    ('ψ', "\\psi"),
    ('ω', "\\omega"),
    ('Ω', "\\Omega"),
    ('Δ', "\\Delta"),
    ('≤', "\\le"),
    ('≥', "\\ge"),
    ('≠', "\\ne"),
    ('≈', "\\approx"),
    ('∝', "\\propto"),
    ('±', "\\pm"),
    ('×', "\\times"),
    ('·', "\\cdot"),
    ('−', "-"),
    ('→', "\\to"),
    ('←', "\\leftarrow"),
    ('↔', "\\leftrightarrow"),
    ('⇒', "\\Rightarrow"),
    ('√', "\\surd"),
    ('∞', "\\infty"),
    ('∈', "\\in"),
    ('∉', "\\notin"),
    ('∑', "\\sum"),
    ('∏', "\\prod"),
    ('‖', "\\|"),
    ('∠', "\\angle"),
    ('⁻', "^{-}"),
    ('⁰', "^{0}"),
    ('¹', "^{1}"),
    ('²', "^{2}"),
    ('³', "^{3}"),
    ('⁴', "^{4}"),
    ('⁵', "^{5}"),
    ('⁶', "^{6}"),
    ('⁷', "^{7}"),
    ('⁸', "^{8}"),
    ('⁹', "^{9}"),
    ('₀', "_{0}"),
    ('₁', "_{1}"),
    ('₂', "_{2}"),
    ('₃', "_{3}"),
    ('₄', "_{4}"),
    ('ᵢ', "_{i}"),
    ('ᵀ', "^{\\top}"),
    ('ŷ', "\\hat{y}"),
];

/// `text` as LaTeX: the specials `\ & % $ # _ { } ~ ^` escaped, the symbols of `SYMBOLS` as
/// math, the typographic quotes and dashes as themselves, everything else unchanged.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\textbackslash{}"),
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            '<' => out.push_str("\\textless{}"),
            '>' => out.push_str("\\textgreater{}"),
            '|' => out.push_str("\\textbar{}"),
            // A combining circumflex (`x̂`) has no pdfLaTeX reading: a circumflex after the letter.
            '\u{302}' => out.push_str("\\^{}"),
            _ => match SYMBOLS.iter().find(|(s, _)| *s == c) {
                Some((_, latex)) => {
                    out.push('$');
                    out.push_str(latex);
                    out.push('$');
                }
                None => out.push(c),
            },
        }
    }
    out
}

/// The `verify` summary as a booktabs table: one row per claim with its statement, criterion,
/// statistic (p-value or interval) and verdict; the protocol, seed and version in the caption.
pub fn summary_table(reports: &[ClaimReport], protocol: &str, seed: u64) -> String {
    let mut tex = format!(
        "% dpr-audit {} verify summary ({protocol} protocol, master seed {seed}).\n\
         % Needs \\usepackage{{booktabs}}, \\usepackage{{array}} and \\usepackage[T1]{{fontenc}}; \\input{{SUMMARY.tex}} in the document.\n\
         \\begin{{table}}[htbp]\n\\centering\n\\small\n\
         \\begin{{tabular}}{{@{{}}l p{{0.24\\linewidth}} p{{0.30\\linewidth}} p{{0.22\\linewidth}} l@{{}}}}\n\
         \\toprule\nClaim & Statement & Criterion & Statistic & Verdict \\\\\n\\midrule\n",
        env!("CARGO_PKG_VERSION")
    );
    for r in reports {
        let statistic = if r.statistic.is_empty() {
            &r.measured
        } else {
            &r.statistic
        };
        tex += &format!(
            "{} & {} & {} & {} & \\textbf{{{}}} \\\\\n",
            escape(&r.id),
            escape(&r.title),
            escape(&r.criterion),
            escape(statistic),
            r.verdict.label()
        );
    }
    tex += &format!(
        "\\bottomrule\n\\end{{tabular}}\n\\caption{{Claims checked by \\texttt{{dpr-audit verify}} ({} protocol, master seed {seed}): each verdict is a test at level $\\alpha = 0.05$ per claim.}}\n\\label{{tab:dpr-audit-verify}}\n\\end{{table}}\n",
        escape(protocol)
    );
    tex
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::Verdict;

    /// Non-ASCII characters pdfLaTeX's `utf8` input reads in text (with
    /// `\usepackage[T1]{fontenc}` for the accented letters), which `escape` keeps.
    const TEXT_SAFE: &str = "§–—…";

    fn report(id: &str, title: &str, statistic: &str, verdict: Verdict) -> ClaimReport {
        ClaimReport {
            id: id.into(),
            title: title.into(),
            measured: "measured".into(),
            criterion: "p < 0.05 & 100% of runs".into(),
            statistic: statistic.into(),
            verdict,
            files: Vec::new(),
            figures: Vec::new(),
        }
    }

    #[test]
    fn every_special_character_is_escaped() {
        assert_eq!(
            escape(r"a\b&c%d$e#f_g{h}i~j^k<l>m|n"),
            r"a\textbackslash{}b\&c\%d\$e\#f\_g\{h\}i\textasciitilde{}j\textasciicircum{}k\textless{}l\textgreater{}m\textbar{}n"
        );
    }

    #[test]
    fn unicode_symbols_become_math_and_other_text_is_kept() {
        assert_eq!(escape("ρ_d ≤ 1"), r"$\rho$\_d $\le$ 1");
        assert_eq!(
            escape("m^-0.5 ∝ ε²"),
            r"m\textasciicircum{}-0.5 $\propto$ $\varepsilon$$^{2}$"
        );
        assert_eq!(escape("Hölder"), "Hölder");
        assert_eq!(escape("x̂ and ŷ"), r"x\^{} and $\hat{y}$");
    }

    /// Every character of every claim's statement and criterion escapes to ASCII or to a
    /// character pdfLaTeX reads: a new symbol in a spec without a mapping fails here, not in
    /// the reader's paper.
    #[test]
    fn every_claim_spec_escapes_to_what_pdflatex_reads() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("verify");
        let mut specs = 0;
        for entry in std::fs::read_dir(&dir).expect("verify/ exists") {
            let path = entry.expect("a readable entry").path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            specs += 1;
            let text = std::fs::read_to_string(&path).expect("a readable spec");
            for c in escape(&text).chars().filter(|c| !c.is_ascii()) {
                let latin = ('\u{c0}'..='\u{17f}').contains(&c) && c.is_alphabetic();
                assert!(
                    TEXT_SAFE.contains(c) || latin,
                    "{c:?} (U+{:04X}) in {}",
                    c as u32,
                    path.display()
                );
            }
        }
        assert!(specs >= 10, "the claim specs C0–C10 are read ({specs})");
    }

    #[test]
    fn the_summary_is_one_booktabs_table_with_a_row_per_claim() {
        let tex = summary_table(
            &[
                report("C0", "E[D] matches h_{x,x0}", "max |z| = 3.04, p = 0.32", Verdict::Pass),
                report("C5", "no spurious minima", "", Verdict::Fail),
            ],
            "quick",
            7,
        );
        for part in [
            "\\toprule",
            "\\midrule",
            "\\bottomrule",
            "\\begin{tabular}",
            "\\end{table}",
        ] {
            assert_eq!(tex.matches(part).count(), 1, "{part} in\n{tex}");
        }
        let rows: Vec<&str> = tex
            .lines()
            .filter(|l| l.starts_with("C0 ") || l.starts_with("C5 "))
            .collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].matches(" & ").count(), 4, "five columns: {}", rows[0]);
        assert!(rows[0].contains(r"h\_\{x,x0\}") && rows[0].contains(r"\textbar{}z\textbar{}"));
        assert!(rows[0].ends_with(r"\textbf{PASS} \\"));
        assert!(
            rows[1].contains(" & measured & "),
            "an empty statistic falls back to the measurement"
        );
        assert!(rows[1].ends_with(r"\textbf{FAIL} \\"));
        assert!(tex.contains("master seed 7"));
        assert_eq!(tex.matches("\\begin{").count(), tex.matches("\\end{").count());
    }
}

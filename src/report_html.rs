//! `report.html`: a finished run as one self-contained page (no script, no file beside it) with the
//! page's pictures, so a run on a server can be looked at in any browser. Plain data.

use std::fmt::Write;

use html_escape::encode_text as text;

use crate::charts;
use crate::data::Task;
use crate::train::History;
use crate::train::Report;
use crate::train::reference::Reference;

/// What the report is about, beside the run's history.
pub struct RunSummary<'a> {
    /// The model as the run was given it (a Hub id or a folder).
    pub model: &'a str,
    pub task: Task,
    pub report: &'a Report,
    pub reference: Option<&'a Reference>,
}

pub fn render(run: &RunSummary, history: &History) -> String {
    let labels: Vec<String> = run.task.labels().iter().map(|l| l.to_string()).collect();
    let title = format!("{} on {}", run.model, run.task.dir_name());
    let mut out = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>webtune: {}</title><style>\
         body {{ font-family: system-ui, sans-serif; color: #1f2733; max-width: 62rem; margin: 1.5rem auto; padding: 0 1rem; }}\
         h2 {{ font-size: 1.15rem; margin-top: 1.8rem; }} table.scores {{ border-collapse: collapse; }}\
         .scores th, .scores td {{ padding: .2rem .8rem; border-bottom: 1px solid #dde1e7; text-align: right; }}\n{}</style></head><body>",
        text(&title),
        charts::STYLE
    );
    let r = run.report;
    let _ = write!(
        out,
        "<h1>{}</h1><p data-testid=\"summary\">{} optimizer steps{} in {:.1} s, {:.2} training samples/s.</p>",
        text(&title),
        r.steps,
        if r.stopped { " (stopped early)" } else { "" },
        r.train_runtime_s,
        r.train_samples_per_second
    );
    let _ = write!(
        out,
        "<h2>Training loss</h2>{}<h2>Validation scores</h2>{}",
        charts::loss_chart(&history.losses, history.total_steps),
        charts::scores_chart(&history.evaluations, history.total_steps, run.reference)
    );
    if let Some(first) = history.evaluations.first() {
        out.push_str("<table class=\"scores\"><thead><tr><th>Epoch</th><th>Step</th>");
        for (name, _) in first.scores() {
            let _ = write!(out, "<th>{}</th>", text(&charts::metric_title(&name)));
        }
        out.push_str("<th>Examples</th></tr></thead><tbody>");
        for row in &history.evaluations {
            let _ = write!(out, "<tr data-testid=\"eval-row\"><td>{:.2}</td><td>{}</td>", row.epoch, row.step);
            for (name, v) in row.scores() {
                let _ = write!(out, "<td data-testid=\"eval-{name}\" data-value=\"{v}\">{v:.4}</td>");
            }
            let _ = write!(out, "<td>{}</td></tr>", row.metrics.examples);
        }
        out.push_str("</tbody></table>");
    }
    if let Some(last) = history.evaluations.last().filter(|e| e.confusion.is_some()) {
        let _ = write!(
            out,
            "<h2>What the model gets wrong (validation, step {})</h2>{}<p>{}</p>{}",
            last.step,
            charts::confusion_table(last.confusion.as_deref().unwrap_or_default(), &labels),
            match last.mistakes.len() {
                0 => "No wrong answers.".to_string(),
                n => format!("The {n} most confident wrong answers, most confident first:"),
            },
            charts::mistake_list(&last.mistakes, &labels, 0)
        );
    }
    out.push_str("<p style=\"color: #5b6472\">Written by webtune at the end of <code>webtune train</code>.</p></body></html>\n");
    out
}

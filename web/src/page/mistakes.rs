//! What the latest evaluation got wrong: its confusion matrix, and its wrong answers, the most
//! confident first, twenty to a page. Both carry their numbers in `data-` attributes for tests.

use leptos::prelude::*;
use webtune::train::mistakes::Mistake;

use super::state::RunState;

const PAGE: usize = 20;

#[component]
pub fn Mistakes(state: RunState) -> impl IntoView {
    let labels = state.labels;
    let latest = move || state.evals.with(|e| e.last().map(|r| (r.step, r.confusion.clone(), r.mistakes.clone())));
    let page = RwSignal::new(0usize);
    // A new evaluation starts its list from the top.
    Effect::new(move || {
        state.evals.with(|e| e.len());
        page.set(0);
    });
    let name = move |id: usize| labels.with(|l| l.get(id).cloned().unwrap_or_else(|| format!("class {id}")));
    move || {
        let (step, confusion, mistakes) = latest()?;
        let confusion = confusion?;
        let classes = confusion.len();
        let total = mistakes.len();
        let pages = total.div_ceil(PAGE).max(1);
        let shown = move || {
            let start = page.get().min(pages - 1) * PAGE;
            mistakes.iter().skip(start).take(PAGE).cloned().collect::<Vec<Mistake>>()
        };
        Some(view! {
            <div class="mistakes">
                <h3>{format!("What the model gets wrong (validation, step {step})")}</h3>
                <table class="confusion" data-testid="confusion" data-counts=serde_json::to_string(&confusion).unwrap_or_default()>
                    <caption>"Rows: the true label; columns: the predicted one"</caption>
                    <thead><tr><th></th>{(0..classes).map(|p| view! { <th>{name(p)}</th> }).collect_view()}</tr></thead>
                    <tbody>
                        {confusion.iter().enumerate().map(|(t, row)| view! {
                            <tr>
                                <th>{name(t)}</th>
                                {row.iter().enumerate().map(|(p, n)| view! {
                                    <td class:right=move || p == t>{*n}</td>
                                }).collect_view()}
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
                <p class="note">{match total {
                    0 => "No wrong answers.".to_string(),
                    n => format!("The {n} most confident wrong answers, most confident first:"),
                }}</p>
                <ol class="mistake-list">
                    {move || shown().into_iter().map(|m| {
                        let confidence = m.probabilities.get(m.predicted).copied().unwrap_or(0.0);
                        view! {
                            <li data-testid="mistake" data-index=m.index.to_string() data-line=m.line.to_string()
                                data-label=m.label.to_string() data-predicted=m.predicted.to_string()
                                data-probabilities=serde_json::to_string(&m.probabilities).unwrap_or_default()>
                                <q>{m.text_a.clone()}</q>
                                {m.text_b.clone().map(|b| view! { " / " <q>{b}</q> })}
                                <span class="note">{format!(
                                    " — {} (line {}), predicted {} with {:.0}%",
                                    name(m.label), m.line, name(m.predicted), 100.0 * confidence
                                )}</span>
                            </li>
                        }
                    }).collect_view()}
                </ol>
                {(pages > 1).then(|| view! {
                    <p class="pager">
                        <button class="secondary" data-testid="mistakes-previous" prop:disabled=move || page.get() == 0
                            on:click=move |_| page.update(|p| *p = p.saturating_sub(1))>"Previous"</button>
                        <span data-testid="mistakes-page">{move || format!(" page {} of {pages} ", page.get() + 1)}</span>
                        <button class="secondary" data-testid="mistakes-next" prop:disabled=move || pages <= page.get() + 1
                            on:click=move |_| page.update(|p| *p += 1)>"Next"</button>
                    </p>
                })}
            </div>
        })
    }
}

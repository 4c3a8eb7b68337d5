//! What the latest evaluation got wrong: its confusion matrix, and its wrong answers, the most
//! confident first, twenty to a page. The core draws both (`webtune::charts`, as in `report.html`),
//! with their numbers in `data-` attributes for tests.

use leptos::prelude::*;
use webtune::charts;
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
    move || {
        let (step, confusion, mistakes) = latest()?;
        let confusion = confusion?;
        let total = mistakes.len();
        let pages = total.div_ceil(PAGE).max(1);
        let table = move || labels.with(|l| charts::confusion_table(&confusion, l));
        let list = move || {
            let first = page.get().min(pages - 1) * PAGE;
            let shown: Vec<Mistake> = mistakes.iter().skip(first).take(PAGE).cloned().collect();
            labels.with(|l| charts::mistake_list(&shown, l, first))
        };
        Some(view! {
            <div class="mistakes">
                <h3>{format!("What the model gets wrong (validation, step {step})")}</h3>
                <div inner_html=table></div>
                <p class="note">{match total {
                    0 => "No wrong answers.".to_string(),
                    n => format!("The {n} most confident wrong answers, most confident first:"),
                }}</p>
                <div inner_html=list></div>
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

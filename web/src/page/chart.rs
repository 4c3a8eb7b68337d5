//! The run's charts: the training loss with the learning rate, and the validation scores with
//! PyTorch's for the recipe where known. The core draws them (`webtune::charts`, the same SVG as
//! `report.html`); this puts them into the page as the run's signals change.

use leptos::prelude::*;
use webtune::charts;

use super::state::RunState;

#[component]
pub fn Charts(state: RunState) -> impl IntoView {
    // Not every step: the charts are redrawn when what they show changes.
    let total = Memo::new(move |_| state.progress.with(|p| p.total));
    let total = move || total.get();
    let loss = move || state.losses.with(|l| charts::loss_chart(l, total()));
    let scores = move || state.evals.with(|e| charts::scores_chart(e, total(), state.reference.get()));
    view! {
        <div class="charts">
            <figure inner_html=loss></figure>
            <figure inner_html=scores></figure>
        </div>
    }
}

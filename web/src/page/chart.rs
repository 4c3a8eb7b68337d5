//! The loss curve (and the learning rate, dashed) as an SVG drawn from the logged points.

use leptos::prelude::*;

use super::state::RunState;

const W: f64 = 600.0;
const H: f64 = 200.0;
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 20.0;
const TOP: f64 = 10.0;

fn points(values: &[(usize, f64)], total: usize, max: f64) -> String {
    let x = |step: usize| LEFT + (W - LEFT - 8.0) * step as f64 / total.max(1) as f64;
    let y = |v: f64| TOP + (H - TOP - BOTTOM) * (1.0 - v / max.max(1e-12));
    values.iter().map(|&(s, v)| format!("{:.1},{:.1}", x(s), y(v))).collect::<Vec<_>>().join(" ")
}

#[component]
pub fn LossChart(state: RunState) -> impl IntoView {
    let total = move || state.progress.get().total;
    let max_loss = move || state.losses.with(|l| l.iter().map(|p| p.loss as f64).fold(0.0, f64::max));
    let loss_points = move || {
        let l: Vec<(usize, f64)> = state.losses.with(|l| l.iter().map(|p| (p.step, p.loss as f64)).collect());
        points(&l, total(), max_loss())
    };
    let lr_points = move || {
        let l: Vec<(usize, f64)> = state.losses.with(|l| l.iter().map(|p| (p.step, p.learning_rate)).collect());
        let max = l.iter().map(|p| p.1).fold(0.0, f64::max);
        points(&l, total(), max)
    };
    // The logged (step, loss) pairs, for tests and for anyone who wants the numbers.
    let data = move || {
        let l: Vec<(usize, f32)> = state.losses.with(|l| l.iter().map(|p| (p.step, p.loss)).collect());
        serde_json::to_string(&l).unwrap_or_default()
    };
    view! {
        <svg class="chart" data-testid="chart" data-losses=data viewBox=format!("0 0 {W} {H}") role="img"
            aria-label="training loss by step">
            <line x1=LEFT y1=H - BOTTOM x2=W - 8.0 y2=H - BOTTOM class="axis" />
            <line x1=LEFT y1=TOP x2=LEFT y2=H - BOTTOM class="axis" />
            <text x=LEFT - 4.0 y=TOP + 8.0 text-anchor="end" class="tick">{move || format!("{:.2}", max_loss())}</text>
            <text x=LEFT - 4.0 y=H - BOTTOM text-anchor="end" class="tick">"0"</text>
            <text x=W - 8.0 y=H - 4.0 text-anchor="end" class="tick">{move || format!("step {}", total())}</text>
            <polyline class="lr" points=lr_points />
            <polyline class="loss" points=loss_points />
        </svg>
    }
}

//! The page's own files kept for offline use: registers the service worker (`web/sw.js`, completed by
//! `web/postbuild.mjs`), says when this build is kept, and offers a newer build once the browser has
//! downloaded all of it. Taking the new build reloads the page, so the page and its worker always
//! come from one build.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen_futures::JsFuture;
use web_sys::{ServiceWorkerContainer, ServiceWorkerRegistration, ServiceWorkerState};

/// What the page says about its kept files.
#[derive(Clone, Copy)]
pub struct Shell {
    /// This build is kept: a visit with the network off opens the page.
    pub offline: RwSignal<bool>,
    /// A newer build is downloaded and waits for the visitor.
    pub update: RwSignal<bool>,
    /// Why the files cannot be kept (no service workers: a private window, plain http on another
    /// host than localhost).
    pub unavailable: RwSignal<Option<String>>,
}

fn container() -> Option<ServiceWorkerContainer> {
    let navigator = window().navigator();
    // `navigator.serviceWorker` is undefined outside secure contexts; web-sys would not say so.
    js_sys::Reflect::get(&navigator, &"serviceWorker".into()).ok().filter(|v| !v.is_undefined())?;
    Some(navigator.service_worker())
}

impl Shell {
    pub fn start() -> Shell {
        let shell =
            Shell { offline: RwSignal::new(false), update: RwSignal::new(false), unavailable: RwSignal::new(None) };
        let Some(container) = container() else {
            shell.unavailable.set(Some("this browser keeps no files for offline use here (no service worker)".into()));
            return shell;
        };
        leptos::task::spawn_local(async move {
            let registered = JsFuture::from(container.register("./sw.js")).await;
            let registration: ServiceWorkerRegistration = match registered {
                Ok(r) => r.unchecked_into(),
                Err(e) => {
                    shell.unavailable.set(Some(format!("the page's files cannot be kept for offline use: {e:?}")));
                    return;
                }
            };
            shell.watch(&container, &registration);
            // Resolves once a build is active: this one, or the one that serves this page.
            if let Ok(ready) = container.ready() {
                if JsFuture::from(ready).await.is_ok() {
                    shell.offline.set(true);
                }
            }
        });
        shell
    }

    /// A build that finishes installing while another one controls this page is an update.
    fn watch(self, container: &ServiceWorkerContainer, registration: &ServiceWorkerRegistration) {
        let controlled = container.controller().is_some();
        if controlled && registration.waiting().is_some() {
            self.update.set(true);
        }
        // Follows a build being installed: once installed, it waits for this page to let it in.
        let follow = move |installing: web_sys::ServiceWorker| {
            let worker = installing.clone();
            let on_state = Closure::<dyn FnMut()>::new(move || {
                if worker.state() == ServiceWorkerState::Installed && controlled {
                    self.update.set(true);
                }
            });
            installing.set_onstatechange(Some(on_state.as_ref().unchecked_ref()));
            on_state.forget();
        };
        if let Some(installing) = registration.installing() {
            follow(installing);
        }
        let reg = registration.clone();
        let on_found = Closure::<dyn FnMut()>::new(move || {
            if let Some(installing) = reg.installing() {
                follow(installing);
            }
        });
        registration.set_onupdatefound(Some(on_found.as_ref().unchecked_ref()));
        on_found.forget();
        // The new build took over (here or in another tab): reload into it, all of it.
        if controlled {
            let on_change = Closure::<dyn FnMut()>::new(|| {
                let _ = window().location().reload();
            });
            container.set_oncontrollerchange(Some(on_change.as_ref().unchecked_ref()));
            on_change.forget();
        }
    }

    /// Hands the page to the waiting build; the page reloads when it has taken over.
    pub fn take_update(self) {
        let Some(container) = container() else { return };
        leptos::task::spawn_local(async move {
            let Ok(r) = JsFuture::from(container.get_registration()).await else { return };
            let Ok(registration) = r.dyn_into::<ServiceWorkerRegistration>() else { return };
            if let Some(waiting) = registration.waiting() {
                let _ = waiting.post_message(&"webtune:activate".into());
            }
        });
    }
}

//! Property: whatever sequence of publishes, yanks and unyanks happens, the index file equals
//! the concatenation of the versions' lines, and old lines never change except `yanked`.

use proptest::prelude::*;
use wharf_index_format::IndexEntry;
use wharf_storage::{BlobBackend, Storage, StorageConfig};

use crate::support::{admin, upload};

#[derive(Debug, Clone)]
enum Op {
    Publish,
    Yank(usize, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Publish),
        1 => (0usize..8, any::<bool>()).prop_map(|(i, y)| Op::Yank(i, y)),
    ]
}

/// The line with `yanked` normalised, to compare everything else.
fn without_yanked(line: &str) -> String {
    let mut entry = IndexEntry::from_line(line).expect("stored lines parse");
    entry.yanked = false;
    entry.to_line()
}

async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(StorageConfig {
        data_dir: dir.path().into(),
        blobs: BlobBackend::Memory,
    })
    .await
    .expect("opens");
    let alice = admin(&storage, "alice");
    // The model: each published line as returned by publish, and its yanked flag.
    let mut model: Vec<(String, String, bool)> = Vec::new();
    let mut previous: Vec<String> = Vec::new();
    for op in ops {
        match op {
            Op::Publish => {
                let version = format!("0.{}.0", model.len());
                let published = storage
                    .publish(&alice, upload("prop", &version))
                    .await
                    .expect("publish");
                model.push((version, published.entry.to_line(), false));
            }
            Op::Yank(index, yanked) => {
                let Some((version, _, flag)) = model.get_mut(index) else {
                    continue;
                };
                storage
                    .set_yanked(&alice, "prop", version, yanked)
                    .await
                    .expect("yank");
                *flag = yanked;
            }
        }
        let file = storage.index_file("prop").await.expect("read");
        let text = file
            .map(|f| String::from_utf8(f.bytes.to_vec()).expect("utf-8"))
            .unwrap_or_default();
        let expected: String = model
            .iter()
            .map(|(_, line, yanked)| {
                let mut entry = IndexEntry::from_line(line).expect("line parses");
                entry.yanked = *yanked;
                entry.to_line() + "\n"
            })
            .collect();
        prop_assert_eq!(&text, &expected);
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        prop_assert!(lines.len() >= previous.len());
        for (old, new) in previous.iter().zip(&lines) {
            prop_assert_eq!(without_yanked(old), without_yanked(new));
        }
        previous = lines;
    }
    let report = storage.verify().await.expect("verify");
    prop_assert!(report.problems.is_empty(), "{:?}", report.problems);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn index_file_is_the_concatenation_of_lines(ops in proptest::collection::vec(op(), 1..12)) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(run(ops))?;
    }
}

//! [`Storage`]'s catalogue methods: search, package pages, download statistics and reviews.
//! Reads run on pooled connections; writes (download batches, reviews) go through the single
//! writer, each in its own savepoint, so a refused review leaves nothing behind. Everything
//! runs on either engine.

use crate::catalogue::{CataloguePage, CatalogueQuery};
use crate::catalogue_page::PackagePage;
use crate::downloads::{CountedDownload, DownloadStats};
use crate::install_reports::{InstallReport, ReportOutcome};
use crate::recommendations::Recommendations;
use crate::reviews::{Review, ReviewInput};
use crate::storage::now_unix;
use crate::{
    Principal, Storage, StorageError, catalogue_page, catalogue_search, downloads, install_reports,
    recommendations, reviews,
};

impl Storage {
    /// Searches the catalogue.
    pub async fn catalogue_search(
        &self,
        query: CatalogueQuery,
    ) -> Result<CataloguePage, StorageError> {
        self.read_sql(move |conn| catalogue_search::search(conn, &query))
            .await
    }

    /// How many segments SQLite's full-text index of the catalogue has (`None` on
    /// PostgreSQL): one once the writer has compacted it after the latest publishes, more
    /// while publishes keep it busy.
    pub async fn catalogue_index_segments(&self) -> Result<Option<u64>, StorageError> {
        self.read_sql(|conn| {
            conn.sqlite()
                .map(|conn| crate::catalogue_compaction::segments(conn, "catalogue_fts"))
                .transpose()
        })
        .await
    }

    /// The catalogue page of `name` (case and `-`/`_` folded);
    /// [`StorageError::UnknownPackage`] when there is none.
    pub async fn package_page(&self, name: &str) -> Result<PackagePage, StorageError> {
        let name = name.to_owned();
        self.read_sql(move |conn| catalogue_page::package_page(conn, &name))
            .await
    }

    /// Adds a batch of counted downloads in one write. Counting is best effort: the caller
    /// logs a failure and the downloads it served stay served.
    pub async fn record_downloads(&self, batch: Vec<CountedDownload>) -> Result<(), StorageError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.inner
            .writer
            .run_sql(move |conn| {
                downloads::record(conn, &batch)?;
                crate::usage::count_downloads(
                    conn,
                    batch
                        .iter()
                        .map(|download| (download.cksum.as_str(), download.at)),
                )
            })
            .await
    }

    /// The download totals and 90-day daily series of `name`.
    pub async fn download_stats(&self, name: &str) -> Result<DownloadStats, StorageError> {
        let name = name.to_owned();
        let now = now_unix();
        self.read_sql(move |conn| downloads::stats(conn, &name, now))
            .await
    }

    /// What to recommend beside package `name` (case and `-`/`_` folded):
    /// [`StorageError::UnknownPackage`] when there is none.
    pub async fn recommendations(&self, name: &str) -> Result<Recommendations, StorageError> {
        let name = name.to_owned();
        self.read_sql(move |conn| recommendations::recommend(conn, &name))
            .await
    }

    /// Records an install directory's reported set (replacing its previous one); `who` is
    /// the token's user when the report came with one (see [`InstallReport`]).
    pub async fn record_install_report(
        &self,
        who: Option<&Principal>,
        report: InstallReport,
    ) -> Result<ReportOutcome, StorageError> {
        install_reports::check(&report)?;
        let who = who.cloned();
        self.inner
            .writer
            .run_sql(move |conn| install_reports::record(conn, who.as_ref(), &report, now_unix()))
            .await
    }

    /// The reviews of `name`, newest first; the administrator also sees hidden ones with
    /// the reason.
    pub async fn reviews(
        &self,
        name: &str,
        viewer: Option<&Principal>,
    ) -> Result<Vec<Review>, StorageError> {
        let name = name.to_owned();
        let with_hidden = viewer.is_some_and(|who| who.allows(crate::Action::ModerateReviews));
        self.read_sql(move |conn| reviews::list(conn, &name, with_hidden))
            .await
    }

    /// Creates or edits `who`'s rating and review of `name`, and returns it as shown.
    pub async fn save_review(
        &self,
        who: &Principal,
        name: &str,
        input: ReviewInput,
    ) -> Result<Review, StorageError> {
        let (who, name_owned) = (who.clone(), name.to_owned());
        let id = self
            .inner
            .writer
            .run_sql(move |conn| reviews::upsert(conn, &who, &name_owned, &input, now_unix()))
            .await?;
        self.review(name, id).await
    }

    /// Sets the owner's reply to review `id` of `name`.
    pub async fn reply_to_review(
        &self,
        who: &Principal,
        name: &str,
        id: i64,
        body: &str,
    ) -> Result<Review, StorageError> {
        let (who, name_owned, body) = (who.clone(), name.to_owned(), body.to_owned());
        self.inner
            .writer
            .run_sql(move |conn| reviews::reply(conn, &who, &name_owned, id, &body, now_unix()))
            .await?;
        self.review(name, id).await
    }

    /// Records `who`'s report of review `id` of `name`.
    pub async fn report_review(
        &self,
        who: &Principal,
        name: &str,
        id: i64,
        reason: &str,
    ) -> Result<(), StorageError> {
        let (who, name, reason) = (who.clone(), name.to_owned(), reason.to_owned());
        self.inner
            .writer
            .run_sql(move |conn| reviews::report(conn, &who, &name, id, &reason, now_unix()))
            .await
    }

    /// Hides review `id` of `name` (administrator only), logging the reason.
    pub async fn hide_review(
        &self,
        who: &Principal,
        name: &str,
        id: i64,
        reason: &str,
    ) -> Result<(), StorageError> {
        let (who, name, reason) = (who.clone(), name.to_owned(), reason.to_owned());
        self.inner
            .writer
            .run_sql(move |conn| reviews::hide(conn, &who, &name, id, &reason, now_unix()))
            .await
    }

    /// One review as shown (hidden ones included).
    async fn review(&self, name: &str, id: i64) -> Result<Review, StorageError> {
        let name_owned = name.to_owned();
        self.read_sql(move |conn| reviews::list(conn, &name_owned, true))
            .await?
            .into_iter()
            .find(|review| review.id == id)
            .ok_or_else(|| StorageError::UnknownReview {
                name: name.to_owned(),
                id,
            })
    }
}

//! The PostgreSQL schema of the marketplace: the catalogue with its full-text search,
//! ratings and reviews with their moderation log, install reports and web sessions. The
//! tables are SQLite's (`catalogue.rs`, `catalogue_search.rs`, `reviews.rs`,
//! `review_moderation.rs`, `install_reports.rs`, `web_sessions.rs`) with PostgreSQL's types;
//! SQLite's triggers are PL/pgSQL trigger functions here, and FTS5 is replaced by a weighted
//! `tsvector` column with a GIN index (see [`CATALOGUE`]).
//!
//! Each constant is one numbered migration of `pg_schema.rs`.

/// The catalogue: one row per package describing its latest release, with its searchable
/// text as a `tsvector` (`document`: the name weighted A, description and keywords B, the
/// first 100,000 characters of the README D) under a GIN index; its tags, dependencies and
/// README. Trigger functions keep it in step with every publish, plugin record and yank
/// inside the writing transaction, as SQLite's triggers do, and move the README out of the
/// version row. Packages already published are entered by the migration itself.
///
/// Words are split as FTS5's `unicode61` splits them: every run of punctuation becomes a
/// space before PostgreSQL's parser sees the text, and the `simple` configuration keeps
/// each word as it is (lowercased, no stemming, no stop words).
pub(crate) const CATALOGUE: &str = r#"
CREATE TABLE catalogue_entries (
    package_id   BIGINT PRIMARY KEY REFERENCES packages(id),
    version_id   BIGINT NOT NULL REFERENCES versions(id),
    kind         TEXT NOT NULL DEFAULT 'crate',
    plugin_info  TEXT,
    updated_at   BIGINT NOT NULL,
    all_yanked   BIGINT NOT NULL DEFAULT 0,
    document     tsvector NOT NULL
);
CREATE INDEX catalogue_entries_by_version ON catalogue_entries (version_id);
CREATE INDEX catalogue_entries_by_kind ON catalogue_entries (kind, updated_at);
CREATE INDEX catalogue_entries_by_update ON catalogue_entries (updated_at);
CREATE INDEX catalogue_entries_document ON catalogue_entries USING gin (document);
CREATE TABLE catalogue_tags (
    tag_kind    TEXT NOT NULL CHECK (tag_kind IN ('keyword', 'category')),
    value       TEXT NOT NULL,
    package_id  BIGINT NOT NULL REFERENCES packages(id),
    PRIMARY KEY (tag_kind, value, package_id)
);
CREATE INDEX catalogue_tags_by_package ON catalogue_tags (package_id);
CREATE TABLE catalogue_dependencies (
    dependency  TEXT NOT NULL,
    package_id  BIGINT NOT NULL REFERENCES packages(id),
    PRIMARY KEY (dependency, package_id)
);
CREATE INDEX catalogue_dependencies_by_package ON catalogue_dependencies (package_id);
CREATE TABLE catalogue_readmes (
    version_id  BIGINT PRIMARY KEY REFERENCES versions(id),
    readme      TEXT NOT NULL
);

CREATE FUNCTION wharf_catalogue_words(body text, weight "char") RETURNS tsvector
LANGUAGE sql IMMUTABLE AS $$
    SELECT setweight(to_tsvector('simple',
        regexp_replace(coalesce(body, ''), '[[:punct:]]+', ' ', 'g')), weight)
$$;
CREATE FUNCTION wharf_catalogue_document(name text, metadata jsonb) RETURNS tsvector
LANGUAGE sql IMMUTABLE AS $$
    SELECT wharf_catalogue_words(name, 'A')
        || wharf_catalogue_words(metadata ->> 'description', 'B')
        || wharf_catalogue_words((SELECT string_agg(k.value, ' ')
               FROM jsonb_array_elements_text(metadata -> 'keywords') AS k(value)), 'B')
        || wharf_catalogue_words(left(metadata ->> 'readme', 100000), 'D')
$$;
CREATE FUNCTION wharf_catalogue_tags(package bigint, metadata jsonb) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM catalogue_tags WHERE package_id = package;
    INSERT INTO catalogue_tags (tag_kind, value, package_id)
        SELECT 'keyword', lower(k.value), package
        FROM jsonb_array_elements_text(metadata -> 'keywords') AS k(value)
        ON CONFLICT DO NOTHING;
    INSERT INTO catalogue_tags (tag_kind, value, package_id)
        SELECT 'category', lower(c.value), package
        FROM jsonb_array_elements_text(metadata -> 'categories') AS c(value)
        ON CONFLICT DO NOTHING;
$$;
CREATE FUNCTION wharf_catalogue_dependencies(package bigint, line jsonb) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM catalogue_dependencies WHERE package_id = package;
    INSERT INTO catalogue_dependencies (dependency, package_id)
        SELECT lower(coalesce(d.value ->> 'package', d.value ->> 'name')), package
        FROM jsonb_array_elements(line -> 'deps') AS d(value)
        ON CONFLICT DO NOTHING;
$$;

CREATE FUNCTION wharf_catalogue_on_release() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    meta jsonb := CAST(NEW.metadata AS jsonb);
BEGIN
    INSERT INTO catalogue_entries
            (package_id, version_id, kind, plugin_info, updated_at, all_yanked, document)
        SELECT NEW.package_id, NEW.id, 'crate', NULL, NEW.pubtime, 0,
               wharf_catalogue_document(p.name, meta)
        FROM packages p WHERE p.id = NEW.package_id
        ON CONFLICT (package_id) DO UPDATE SET version_id = excluded.version_id,
            kind = excluded.kind, plugin_info = excluded.plugin_info,
            updated_at = excluded.updated_at, all_yanked = excluded.all_yanked,
            document = excluded.document;
    PERFORM wharf_catalogue_tags(NEW.package_id, meta);
    PERFORM wharf_catalogue_dependencies(NEW.package_id, CAST(NEW.line AS jsonb));
    IF meta ->> 'readme' IS NOT NULL THEN
        INSERT INTO catalogue_readmes (version_id, readme) VALUES (NEW.id, meta ->> 'readme');
        UPDATE versions SET metadata = CAST(meta - 'readme' AS text) WHERE id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER catalogue_on_release AFTER INSERT ON versions
    FOR EACH ROW EXECUTE FUNCTION wharf_catalogue_on_release();

CREATE FUNCTION wharf_catalogue_on_plugin() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalogue_entries SET kind = NEW.kind, plugin_info = NEW.info
        WHERE version_id = NEW.version_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER catalogue_on_plugin AFTER INSERT ON plugin_versions
    FOR EACH ROW EXECUTE FUNCTION wharf_catalogue_on_plugin();

CREATE FUNCTION wharf_catalogue_on_yank() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalogue_entries SET all_yanked = CASE WHEN EXISTS (
            SELECT 1 FROM versions v WHERE v.package_id = NEW.package_id AND v.yanked = 0)
        THEN 0 ELSE 1 END
        WHERE package_id = NEW.package_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER catalogue_on_yank AFTER UPDATE OF yanked ON versions
    FOR EACH ROW EXECUTE FUNCTION wharf_catalogue_on_yank();

INSERT INTO catalogue_entries
        (package_id, version_id, kind, plugin_info, updated_at, all_yanked, document)
    SELECT v.package_id, v.id, coalesce(pv.kind, 'crate'), pv.info, v.pubtime,
           CASE WHEN EXISTS (SELECT 1 FROM versions u
                             WHERE u.package_id = v.package_id AND u.yanked = 0)
                THEN 0 ELSE 1 END,
           wharf_catalogue_document(p.name, CAST(v.metadata AS jsonb))
    FROM versions v JOIN packages p ON p.id = v.package_id
    LEFT JOIN plugin_versions pv ON pv.version_id = v.id
    WHERE v.id IN (SELECT max(id) FROM versions GROUP BY package_id);
SELECT wharf_catalogue_tags(v.package_id, CAST(v.metadata AS jsonb)),
       wharf_catalogue_dependencies(v.package_id, CAST(v.line AS jsonb))
    FROM catalogue_entries e JOIN versions v ON v.id = e.version_id;
INSERT INTO catalogue_readmes (version_id, readme)
    SELECT v.id, CAST(v.metadata AS jsonb) ->> 'readme'
    FROM catalogue_entries e JOIN versions v ON v.id = e.version_id
    WHERE CAST(v.metadata AS jsonb) ->> 'readme' IS NOT NULL;
"#;

/// The GIN indexes of the document's parts that relevance ranks as tiers of their own: the
/// name (`ts_filter(document, '{a}')`) and the name, description and keywords
/// (`ts_filter(document, '{a,b}')`). With them the index finds exactly a tier's matches; a
/// weight filter in the query (`'http':*A`) is checked only by reading each document that
/// holds the word anywhere, nearly every package's README for a common word.
pub(crate) const TIER_INDEXES: &str = r"
CREATE INDEX catalogue_entries_name_words ON catalogue_entries
    USING gin (ts_filter(document, '{a}'));
CREATE INDEX catalogue_entries_main_words ON catalogue_entries
    USING gin (ts_filter(document, '{a,b}'));
";

/// Ratings and reviews, owners' replies, users' reports and the administrator's append-only
/// moderation log (`hide` and `unhide`, with reasons).
pub(crate) const REVIEWS: &str = r"
CREATE TABLE reviews (
    id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    package_id  BIGINT NOT NULL REFERENCES packages(id),
    user_id     BIGINT NOT NULL REFERENCES users(id),
    rating      BIGINT NOT NULL CHECK (rating BETWEEN 1 AND 5),
    body        TEXT,
    version     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    hidden_at   BIGINT,
    UNIQUE (package_id, user_id)
);
CREATE INDEX reviews_visible_by_package ON reviews (package_id, rating) WHERE hidden_at IS NULL;
CREATE TABLE review_replies (
    review_id   BIGINT PRIMARY KEY REFERENCES reviews(id),
    user_id     BIGINT NOT NULL REFERENCES users(id),
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE TABLE review_reports (
    review_id   BIGINT NOT NULL REFERENCES reviews(id),
    user_id     BIGINT NOT NULL REFERENCES users(id),
    reason      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (review_id, user_id)
);
CREATE TABLE review_moderation (
    id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    review_id   BIGINT NOT NULL REFERENCES reviews(id),
    admin_id    BIGINT NOT NULL REFERENCES users(id),
    action      TEXT NOT NULL CHECK (action IN ('hide', 'unhide')),
    reason      TEXT NOT NULL,
    time        BIGINT NOT NULL
);
CREATE INDEX review_moderation_by_review ON review_moderation (review_id, id);
CREATE FUNCTION wharf_moderation_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the moderation log is append-only';
END
$$;
CREATE TRIGGER review_moderation_is_never_changed BEFORE UPDATE OR DELETE ON review_moderation
    FOR EACH ROW EXECUTE FUNCTION wharf_moderation_is_append_only();
CREATE TRIGGER review_moderation_is_never_truncated BEFORE TRUNCATE ON review_moderation
    FOR EACH STATEMENT EXECUTE FUNCTION wharf_moderation_is_append_only();
";

/// Install sets reported by `wharf install` (keyed by a random id per install directory),
/// and the users whose token came with a report.
pub(crate) const INSTALL_REPORTS: &str = r"
CREATE TABLE install_sets (
    install_id   TEXT PRIMARY KEY,
    host_api     TEXT,
    reported_at  BIGINT NOT NULL
);
CREATE TABLE install_set_packages (
    package_id  BIGINT NOT NULL REFERENCES packages(id),
    install_id  TEXT NOT NULL REFERENCES install_sets(install_id),
    version     TEXT NOT NULL,
    PRIMARY KEY (package_id, install_id)
);
CREATE INDEX install_set_packages_by_install ON install_set_packages (install_id, package_id);
CREATE TABLE install_reporters (
    package_id  BIGINT NOT NULL REFERENCES packages(id),
    user_id     BIGINT NOT NULL REFERENCES users(id),
    first_at    BIGINT NOT NULL,
    PRIMARY KEY (package_id, user_id)
);
";

/// Web UI sessions by the SHA-256 of their id; revoking a token deletes its sessions (a
/// trigger function, as SQLite's trigger does).
pub(crate) const WEB_SESSIONS: &str = r"
CREATE TABLE web_sessions (
    id_sha256   TEXT PRIMARY KEY,
    token_id    BIGINT NOT NULL REFERENCES tokens(id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX web_sessions_by_token ON web_sessions (token_id);
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);
CREATE FUNCTION wharf_web_sessions_end_with_token() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM web_sessions WHERE token_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER web_sessions_end_with_token AFTER UPDATE OF revoked_at ON tokens
    FOR EACH ROW WHEN (NEW.revoked_at IS NOT NULL)
    EXECUTE FUNCTION wharf_web_sessions_end_with_token();
";

"""Who may take a casebook out of Carnet, and the writes doing so: each one an audit event.

One subject's casebook: whoever may see that subject (their site's staff, a monitor or data
manager covering the site). A whole site's archive (a zip of one PDF per subject with a manifest
of SHA-256 hashes): whoever may see the subjects of that site; large sites are made by the
worker, with a progress bar. Commands act as the system and read blinded.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from carnet.accounts.blinding import Blinding, blinding_of
from carnet.accounts.models import StudySite
from carnet.accounts.permissions import Actor, PermissionDenied, require
from carnet.accounts.roles import Action
from carnet.audit.services import SystemActor, audit_record
from carnet.core.canonical_json import canonical_json
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.core.hashing import sha256_hex
from carnet.interop.casebook_documents import casebook_document, casebook_pdf
from carnet.interop.documents_models import ArchiveStatus, CasebookArchive
from carnet.studies.models import Study
from carnet.subjects.environments import environment_written
from carnet.subjects.models import Subject

# Called after each subject: (subjects done, subjects in all, identifier of the one just made).
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class CasebookFile:
    """One subject's archival casebook: its file name, the PDF and the PDF's SHA-256."""

    name: str
    content: bytes
    sha256: str
    content_sha256: str


@dataclass(frozen=True)
class ArchiveMade:
    files: list[tuple[str, str]]  # name, SHA-256
    manifest_sha256: str


def casebook_blinding(actor: Actor, *, subject: Subject) -> Blinding:
    """Return what the actor may see of the subject's casebook; refuse whoever may not see the
    subject (another site's staff). A command reads blinded."""
    if isinstance(actor, SystemActor):
        return Blinding(unblinded=False)
    require(actor, Action.VIEW_SUBJECTS, study=subject.study, site=subject.site)
    return blinding_of(actor, study=subject.study)


def casebook_archive_allowed(actor: Actor, *, study: Study, site: StudySite) -> None:
    """Refuse whoever may not take a whole site's casebooks out (they must see its subjects)."""
    if site.study_id != study.pk:
        raise ValidationError(_("site: this site belongs to another study."))
    if not isinstance(actor, SystemActor):
        require(actor, Action.VIEW_SUBJECTS, study=study, site=site)


def _language(language: str) -> str:
    """Return the language of a document, refusing one Carnet does not write."""
    known = [code for code, _name in settings.LANGUAGES]
    if language not in known:
        raise ValidationError(
            _("language: %(language)r is not one of %(known)s.")
            % {"language": language, "known": ", ".join(known)}
        )
    return language


def _casebook_file(subject: Subject, blinding: Blinding, language: str) -> CasebookFile:
    document = casebook_document(subject=subject, blinding=blinding, language=language)
    pdf = casebook_pdf(document, language=language)
    return CasebookFile(
        name=f"{subject.study.identifier}-{subject.identifier}-casebook.pdf",
        content=pdf,
        sha256=sha256_hex(pdf),
        content_sha256=document.content_sha256,
    )


def casebook_export(*, actor: Actor, subject: Subject, language: str = "en") -> CasebookFile:
    """Return the subject's archival casebook PDF and record that it left Carnet.

    `PdfUnavailable` where the system lacks Pango: then nothing left and nothing is recorded.
    """
    blinding = casebook_blinding(actor, subject=subject)
    made = _casebook_file(subject, blinding, _language(language))
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="casebook.exported",
            target=subject,
            new={
                "subject": subject.identifier,
                "site": subject.site.code,
                "blinded": not blinding.unblinded,
                "sha256": made.sha256,
                "content_sha256": made.content_sha256,
            },
            chain=subject.study.audit_chain,
        )
    return made


def site_subjects(study: Study, site: StudySite) -> list[Subject]:
    """Return the site's subjects of the study's current environment, by identifier."""
    return list(
        Subject.objects.filter(study=study, site=site, environment=environment_written(study))
        .select_related("study", "site__centre")
        .order_by("identifier")
    )


def casebook_archive_write(
    *,
    actor: Actor,
    study: Study,
    site: StudySite,
    target: IO[bytes],
    language: str = "en",
    progress: Progress | None = None,
) -> ArchiveMade:
    """Write a site's casebooks into ``target`` (a zip: one PDF per subject and manifest.json
    with each file's SHA-256) and record the export. `PdfUnavailable` without Pango."""
    casebook_archive_allowed(actor, study=study, site=site)
    _language(language)
    subjects = site_subjects(study, site)
    files: list[tuple[str, str]] = []
    entries = []
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for done, subject in enumerate(subjects, start=1):
            blinding = casebook_blinding(actor, subject=subject)
            made = _casebook_file(subject, blinding, language)
            archive.writestr(made.name, made.content)
            files.append((made.name, made.sha256))
            entries.append(
                {
                    "subject": subject.identifier,
                    "file": made.name,
                    "sha256": made.sha256,
                    "content_sha256": made.content_sha256,
                    "blinded": not blinding.unblinded,
                }
            )
            if progress:
                progress(done, len(subjects), subject.identifier)
        version = study.current_version
        manifest = {
            "study": study.identifier,
            "study_version": version.number if version else 0,
            "site": site.code,
            "generated_at": utc_now().isoformat(),
            "casebooks": entries,
        }
        manifest_bytes = canonical_json(manifest).encode("utf-8")
        archive.writestr("manifest.json", manifest_bytes)
    digest = sha256_hex(manifest_bytes)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="casebook.archive_exported",
            target=site,
            new={"site": site.code, "subjects": len(subjects), "manifest": digest},
            chain=study.audit_chain,
        )
    return ArchiveMade(files=files, manifest_sha256=digest)


def archive_folder() -> Path:
    """Return the folder under the data directory where the worker leaves site archives."""
    folder = Path(settings.DATA_DIR) / "archives"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def casebook_archive_request(
    *, actor: Actor, study: Study, site: StudySite, language: str = "en"
) -> CasebookArchive:
    """Queue a site's casebook archive for the worker; return the run, whose progress it
    updates. A run already queued or running for the site is returned instead."""
    from carnet.interop.documents_tasks import casebook_archive_run
    from carnet.worker.services import enqueue_after_commit

    casebook_archive_allowed(actor, study=study, site=site)
    _language(language)
    if isinstance(actor, SystemActor):
        raise PermissionDenied(
            _("A site's archive is asked for by a person (the command makes it).")
        )
    with transaction.atomic():
        pending = (
            CasebookArchive.objects.select_for_update()
            .filter(site=site, status__in=[ArchiveStatus.QUEUED, ArchiveStatus.RUNNING])
            .first()
        )
        if pending is not None:
            return pending
        run = CasebookArchive.objects.create(
            study=study,
            site=site,
            requested_by_id=actor.pk,
            language=language,
            subjects_total=len(site_subjects(study, site)),
        )
        enqueue_after_commit(casebook_archive_run, run.pk)
    return run


def casebook_archive_execute(*, run: CasebookArchive) -> CasebookArchive:
    """Make a queued site archive into the data directory, writing its progress as it goes
    (each write its own commit, so the page sees it); a done run stays as it is."""
    if run.status == ArchiveStatus.DONE:
        return run
    run.status, run.started_at, run.subjects_done = ArchiveStatus.RUNNING, utc_now(), 0
    run.save(update_fields=["status", "started_at", "subjects_done"])

    def progress(done: int, total: int, _subject: str) -> None:
        CasebookArchive.objects.filter(pk=run.pk).update(subjects_done=done, subjects_total=total)

    name = f"{run.study.identifier}-site-{run.site.code}-casebooks-{run.pk}.zip"
    path = archive_folder() / name
    partial = path.with_name(name + ".partial")
    try:
        assert run.requested_by is not None
        with partial.open("wb") as target:
            casebook_archive_write(
                actor=run.requested_by,
                study=run.study,
                site=run.site,
                target=target,
                language=run.language,
                progress=progress,
            )
        partial.replace(path)
    except Exception as error:
        partial.unlink(missing_ok=True)
        CasebookArchive.objects.filter(pk=run.pk).update(
            status=ArchiveStatus.FAILED, error=str(error)[:2000], finished_at=utc_now()
        )
        raise
    CasebookArchive.objects.filter(pk=run.pk).update(
        status=ArchiveStatus.DONE,
        file_name=name,
        sha256=sha256_hex(path.read_bytes()),
        finished_at=utc_now(),
    )
    run.refresh_from_db()
    return run


def casebook_archive_download(*, actor: Actor, run: CasebookArchive) -> Path:
    """Return the path of a done site archive for someone who may take it, and record it."""
    casebook_archive_allowed(actor, study=run.study, site=run.site)
    if run.status != ArchiveStatus.DONE or not run.file_name:
        raise ValidationError(_("This archive is not ready yet."))
    path = archive_folder() / run.file_name
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="casebook.archive_downloaded",
            target=run,
            new={"site": run.site.code, "sha256": run.sha256},
            chain=run.study.audit_chain,
        )
    return path

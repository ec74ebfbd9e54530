"""Publish an exported folder to the Hugging Face Hub, with the real ``huggingface_hub`` client.

``push_to_hub`` creates the dataset repository when it is missing
(``HfApi.create_repo(repo_type="dataset", exist_ok=True)``), creates the branch
when a revision other than ``main`` is asked for, and uploads the folder in one
commit (``HfApi.upload_folder``). The repository then mirrors the folder: files
the folder no longer has are deleted in the same commit (``.gitattributes``
excepted). Pushing an unchanged folder again makes no commit: the Hub's
preupload answer carries each remote file's id, the client drops files whose
content did not change, and a commit with nothing left is skipped.

Where: ``endpoint`` (``--hub-endpoint``), else ``HF_ENDPOINT``, else
https://huggingface.co. Who: ``token``, else ``HF_TOKEN``, else the token saved
by ``hf auth login``. The token travels only in the ``Authorization`` header of
requests to the Hub; it is never printed, logged or written anywhere.

Transfer: ``huggingface_hub`` uploads through Xet storage whenever the
``hf_xet`` package is installed and ``HF_HUB_DISABLE_XET`` is unset; it decides
this on its own, before asking the server anything. The Hub (huggingface.co)
speaks Xet. A Hub-compatible server that speaks only git LFS (an on-premises
mirror, the loopback stand-in of skillforge's tests) needs
``HF_HUB_DISABLE_XET=1``, which makes the client use git LFS (preupload, LFS
batch API, PUT, verify, commit).
"""

from __future__ import annotations

from pathlib import Path

from skillforge.gitio import redact_url

DEFAULT_COMMIT_MESSAGE = "Upload dataset with skillforge"
MISSING_TOKEN = (
    "no Hugging Face token: set HF_TOKEN to a token with write access "
    "(https://huggingface.co/settings/tokens) or run `hf auth login`"
)


class HubError(RuntimeError):
    """Publishing failed; the message says why and what to do."""


def _explain(exc: Exception, repo_id: str, endpoint: str) -> str:
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    where = f"{repo_id} on {redact_url(endpoint)}"
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, RepositoryNotFoundError) or status in (401, 403):
        return (f"the Hub refused {where} ({status}): check that the token (HF_TOKEN or `hf auth login`) is valid, "
                f"has write access, and that its owner may write to the namespace {repo_id.split('/')[0]!r}")
    if isinstance(exc, HfHubHTTPError):
        return f"pushing to {where} failed: {redact_url(str(exc))}"
    hint = ""
    try:
        from huggingface_hub.utils._runtime import is_xet_available
    except ImportError:  # huggingface_hub < 0.30: no client-side Xet
        def is_xet_available() -> bool:
            return False
    if is_xet_available():
        hint = (" (the upload went through Xet storage; if this endpoint speaks git LFS only, "
                "set HF_HUB_DISABLE_XET=1)")
    return f"pushing to {where} failed: {type(exc).__name__}: {redact_url(str(exc))}{hint}"


def push_to_hub(folder: str | Path, repo_id: str, *, token: str | None = None, endpoint: str | None = None,
                private: bool = False, revision: str | None = None,
                commit_message: str = DEFAULT_COMMIT_MESSAGE, commit_description: str | None = None,
                mirror: bool = True) -> str:
    """Publish ``folder`` as the dataset repository ``repo_id`` (``owner/name``, or ``name`` in the
    token owner's namespace); returns the URL of the commit the repository is at afterwards (the
    previous one when nothing changed).

    ``private`` makes a new repository private, and refuses to publish into an existing public one.
    ``revision`` is a branch, created from ``main`` when missing. ``mirror=False`` keeps remote
    files the folder does not have.
    """
    from huggingface_hub import HfApi, constants, get_token

    from skillforge import __version__

    folder = Path(folder)
    if not folder.is_dir() or not any(folder.iterdir()):
        raise HubError(f"{folder}: no exported dataset there; run `skillforge export --out {folder}` first")
    token = token or get_token()
    if not token:
        raise HubError(MISSING_TOKEN)
    endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
    api = HfApi(endpoint=endpoint, token=token, library_name="skillforge", library_version=__version__)
    try:
        url = api.create_repo(repo_id, repo_type="dataset", private=True if private else None, exist_ok=True)
        repo_id = url.repo_id
        if private and not api.repo_info(repo_id, repo_type="dataset").private:
            raise HubError(f"{repo_id} on {redact_url(endpoint)} exists and is public: not publishing a private "
                           "dataset into it (make it private in its settings on the Hub, or push without --private)")
        if revision and revision != constants.DEFAULT_REVISION:
            api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
        info = api.upload_folder(
            repo_id=repo_id, repo_type="dataset", folder_path=folder, revision=revision,
            commit_message=commit_message, commit_description=commit_description,
            delete_patterns=["*"] if mirror else None,
        )
    except HubError:
        raise
    except Exception as exc:  # the client's errors: HTTP, network, Xet, malformed answers
        raise HubError(_explain(exc, repo_id, endpoint)) from exc
    return info.commit_url

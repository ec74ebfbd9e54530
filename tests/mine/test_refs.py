from skillforge.mine.refs import IssueRef, closing_references, recognise_pr


def test_merge_commit_message_as_github_writes_it():
    pr = recognise_pr("Merge pull request #12 from alice/fix-median\n\nFix median of even-length lists\n\nBody", 2)
    assert (pr.number, pr.style, pr.title, pr.body, pr.head) == (12, "merge", "Fix median of even-length lists", "Body", "alice/fix-median")


def test_squash_merge_subject():
    pr = recognise_pr("Handle empty input (#7)\n\nFixes #3", 1)
    assert (pr.number, pr.style, pr.title, pr.body) == (7, "squash", "Handle empty input", "Fixes #3")


def test_other_commits_are_not_prs():
    assert recognise_pr("Merge branch 'main' into dev", 2) is None
    assert recognise_pr("Bump version to 1.2 (see #4 for context)", 1) is None
    assert recognise_pr("Merge branch 'main' into dev (#5)", 2) is None


def test_merge_commit_with_pull_request_title_message():
    # GitHub's merge option "Pull request title" writes "Title (#N)" on a two-parent merge commit
    pr = recognise_pr("Add FAQ entry (#3778)\n\nbody", 2)
    assert (pr.number, pr.style, pr.title, pr.body) == (3778, "merge", "Add FAQ entry", "body")


def test_closing_references_follow_github_keywords():
    text = "This fixes #1, Closes: #2 and resolves other/repo#3.\nSee #4. fixed https://github.com/o/n/issues/5"
    assert closing_references(text) == [IssueRef(None, 1), IssueRef(None, 2), IssueRef("other/repo", 3), IssueRef("o/n", 5)]


def test_closing_references_deduplicate_and_ignore_mentions():
    assert closing_references("Fixes #9. fixes #9. Related to #10. prefix#11") == [IssueRef(None, 9)]


def test_closing_issue_numbers_are_same_repository_only():
    from skillforge.mine.refs import closing_issue_numbers

    text = "Fixes #1, closes other/repo#2, resolves https://github.com/o/n/issues/3; Fixed: #4. fixes #1"
    assert closing_issue_numbers(text) == [1, 4]
    assert closing_issue_numbers("") == [] and closing_issue_numbers(None) == []  # type: ignore[arg-type]

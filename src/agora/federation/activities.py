"""ActivityPub objects and activities Agora sends: Note, Create, Update, Delete (of a post, or
of an actor when its account is deleted), Follow, Accept, Reject, Like, Announce, Undo, Block,
Flag, Move.

Addressing follows Agora's four visibilities (as Mastodon maps them):
public = as:Public in `to`, followers in `cc`; unlisted = followers in `to`, as:Public in
`cc`; private (followers-only) = followers in `to`, mentioned in `cc`; direct = mentioned
only. `visibility_of` reads the same mapping back for received posts.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from agora.db.models import Account, Post, Visibility, utcnow
from agora.federation.actors import AS_PUBLIC, CONTEXT, actor_uri, base_url
from agora.social.media.custom_emojis import emoji_tags
from agora.social.posts import post_uris


def note_uri(author: Account, post: Post) -> str:
    """A post's ActivityPub id (its stored `uri` when remote): `post_uris.post_uri`."""
    return post_uris.post_uri(post.id, post.uri, author.username)


def followers_uri(account: Account) -> str:
    """An account's followers collection."""
    return account.followers_url or f"{actor_uri(account)}/followers"


def audience(visibility: int, author: Account, mentioned: list[str]) -> tuple[list[str], list[str]]:
    """`to` and `cc` of a post (see the module docstring)."""
    followers = followers_uri(author)
    match Visibility(visibility):
        case Visibility.PUBLIC:
            return [AS_PUBLIC], [followers, *mentioned]
        case Visibility.UNLISTED:
            return [followers], [AS_PUBLIC, *mentioned]
        case Visibility.PRIVATE:
            return [followers], mentioned
        case _:
            return mentioned, []


def visibility_of(to: list[str], cc: list[str], followers: str | None) -> Visibility:
    """The visibility a received post's addressing means (see the module docstring)."""
    public = {AS_PUBLIC, "as:Public", "Public"}
    if public & set(to):
        return Visibility.PUBLIC
    if public & set(cc):
        return Visibility.UNLISTED
    if followers is not None and followers in (*to, *cc):
        return Visibility.PRIVATE
    return Visibility.DIRECT


def note_json(
    post: Post, author: Account, mentions: list[Account], in_reply_to: str | None = None
) -> dict[str, Any]:
    """A local post as a Note (with its per-post data-reuse override); `in_reply_to` is the
    id of the post it answers."""
    mentioned = [actor_uri(m) for m in mentions]
    to, cc = audience(post.visibility, author, mentioned)
    note: dict[str, Any] = {
        "id": note_uri(author, post),
        "type": "Note",
        "attributedTo": actor_uri(author),
        "content": post.content_html,
        "summary": post.spoiler_text or None,
        "sensitive": post.sensitive,
        "published": _when(post.created_at),
        "url": f"{base_url()}/@{author.username}/{post.id}",
        "to": to,
        "cc": cc,
        "tag": [
            *(
                {"type": "Mention", "href": actor_uri(m), "name": f"@{m.username_lower}"}
                for m in mentions
            ),
            *emoji_tags(post.emojis),
        ],
        "dataReuse": {"noAiReuse": post.no_ai_reuse},
    }
    if in_reply_to:
        note["inReplyTo"] = in_reply_to
    if post.edited_at is not None:
        note["updated"] = _when(post.edited_at)
    return note


def _when(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def create_activity(note: dict[str, Any]) -> dict[str, Any]:
    """Create(Note), addressed as the note is."""
    return {
        "@context": CONTEXT,
        "id": f"{note['id']}/activity",
        "type": "Create",
        "actor": note["attributedTo"],
        "published": note["published"],
        "to": note["to"],
        "cc": note["cc"],
        "object": note,
    }


def update_activity(note: dict[str, Any]) -> dict[str, Any]:
    """Update(Note) after an edit, addressed as the note is (one id per edit)."""
    return {
        "@context": CONTEXT,
        "id": f"{note['id']}#updates/{note.get('updated', note['published'])}",
        "type": "Update",
        "actor": note["attributedTo"],
        "published": note.get("updated", note["published"]),
        "to": note["to"],
        "cc": note["cc"],
        "object": note,
    }


def delete_activity(post: Post, author: Account, to: list[str], cc: list[str]) -> dict[str, Any]:
    """Delete of a post (a Tombstone), addressed as the post was."""
    uri = note_uri(author, post)
    return {
        "@context": CONTEXT,
        "id": f"{uri}#delete",
        "type": "Delete",
        "actor": actor_uri(author),
        "to": to,
        "cc": cc,
        "object": {"id": uri, "type": "Tombstone"},
    }


def follow_uri(request_id: int) -> str:
    """The id of a Follow this server sent (named by its follow request's id)."""
    return f"{base_url()}/follows/{request_id}"


def follow_activity(request_id: int, follower: Account, target: Account) -> dict[str, Any]:
    """Follow, from a local account to a remote one."""
    return {
        "@context": CONTEXT,
        "id": follow_uri(request_id),
        "type": "Follow",
        "actor": actor_uri(follower),
        "object": actor_uri(target),
    }


def accept_activity(
    target: Account, follow: dict[str, Any], answer: str = "Accept"
) -> dict[str, Any]:
    """Accept (or, with `answer` "Reject", Reject) of a received Follow, by its (local)
    target."""
    kind = answer.lower() + "s"
    return {
        "@context": CONTEXT,
        "id": f"{actor_uri(target)}#{kind}/follows/{_digest(follow['id'])}",
        "type": answer,
        "actor": actor_uri(target),
        "object": {
            "id": follow["id"],
            "type": "Follow",
            "actor": follow["actor"],
            "object": actor_uri(target),
        },
    }


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def like_activity(like_id: int, actor: Account, post_uri: str) -> dict[str, Any]:
    """Like of a post (its id made from the favourite's, so its Undo names it)."""
    return {
        "@context": CONTEXT,
        "id": f"{actor_uri(actor)}#likes/{like_id}",
        "type": "Like",
        "actor": actor_uri(actor),
        "object": post_uri,
    }


def announce_activity(
    boost_id: int, actor: Account, post_uri: str, post_author: str, visibility: int
) -> dict[str, Any]:
    """Announce (a boost) of a post, addressed as a post of the boost's visibility, with the
    boosted post's author in `cc`."""
    to, cc = audience(visibility, actor, [])
    return {
        "@context": CONTEXT,
        "id": f"{actor_uri(actor)}/statuses/{boost_id}/activity",
        "type": "Announce",
        "actor": actor_uri(actor),
        "published": _when(utcnow()),
        "to": to,
        "cc": [*cc, post_author],
        "object": post_uri,
    }


def update_actor_activity(actor: dict[str, Any]) -> dict[str, Any]:
    """Update(Person) of a local actor document (one id per change)."""
    return {
        "@context": CONTEXT,
        "id": f"{actor['id']}#updates/{_when(utcnow())}",
        "type": "Update",
        "actor": actor["id"],
        "to": [AS_PUBLIC],
        "object": {k: v for k, v in actor.items() if k != "@context"},
    }


def undo_activity(actor: Account, activity: dict[str, Any]) -> dict[str, Any]:
    """Undo of an activity this server sent."""
    return {
        "@context": CONTEXT,
        "id": f"{activity['id']}/undo",
        "type": "Undo",
        "actor": actor_uri(actor),
        "object": {k: v for k, v in activity.items() if k != "@context"},
    }


def block_activity(activity_id: str, actor: Account, target: Account) -> dict[str, Any]:
    """Block, from a local account to a remote one (ids are fresh each time: a block after an
    unblock is a new activity, not a redelivery)."""
    return {
        "@context": CONTEXT,
        "id": activity_id,
        "type": "Block",
        "actor": actor_uri(actor),
        "object": actor_uri(target),
    }


def flag_activity(
    activity_id: str, sender_uri: str, target: Account, object_uris: list[str], content: str
) -> dict[str, Any]:
    """Flag (a forwarded report) sent by `sender_uri` (the instance actor): the reported
    account and posts, the reporter's comment; the reporter is not named, as on Mastodon."""
    return {
        "@context": CONTEXT,
        "id": activity_id,
        "type": "Flag",
        "actor": sender_uri,
        "content": content,
        "object": [actor_uri(target), *object_uris],
    }


def delete_actor_activity(actor: Account) -> dict[str, Any]:
    """Delete of a local actor whose account was deleted (Mastodon's shape: the id is the
    actor's with `#delete`, the object the actor's id, addressed to the public)."""
    uri = actor_uri(actor)
    return {
        "@context": CONTEXT,
        "id": f"{uri}#delete",
        "type": "Delete",
        "actor": uri,
        "to": [AS_PUBLIC],
        "object": uri,
    }


def move_activity(actor: Account, target_uri: str) -> dict[str, Any]:
    """Move of a local account to `target_uri` (an actor that lists it in `alsoKnownAs`),
    addressed to its followers, as Mastodon sends it."""
    uri = actor_uri(actor)
    return {
        "@context": CONTEXT,
        "id": f"{uri}#moves/{_when(utcnow())}",
        "type": "Move",
        "actor": uri,
        "to": [followers_uri(actor)],
        "object": uri,
        "target": target_uri,
    }

"""Merging accounts into one, and putting them back.

A merge is one transaction: the survivor takes, field by field, the value chosen from any of the
accounts (by default the newest non-empty one), custom values key by key and the union of the
tags; the contacts, visits, tasks (and so their reminders), purchases and recent views of the
merged-away accounts move to the survivor; contacts found twice can be merged in the same step.
The merged-away accounts are deleted and point at the survivor (`Account.merged_into_id`), so
their ids keep answering, with a redirect. Every record it changes gets an audit entry on
channel ``merge`` carrying the merge's id, and a new version, so an offline change based on the
version before the merge meets the merge rule.

For `UNDO_DAYS` a merge can be undone: the merged-away accounts come back with their own
values and the records that were theirs; whatever was changed since the merge (a field of the
survivor, a moved visit edited since) is left as it is and listed.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy import Table, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import EDITABLE, Account, RecentView
from server.accounts.service import ENTITY as ACCOUNT
from server.accounts.service import AccountService
from server.analytics import rollups
from server.audit.models import AuditEntry, Channel
from server.auth.scope import Actor, visible_accounts
from server.briefcase import changes
from server.contacts.models import Contact
from server.db import utcnow
from server.deals.models import Deal
from server.duplicates.models import DuplicatePair, Merge
from server.errors import Forbidden, NotFound, ValidationFailed
from server.i18n import Text, _l
from server.normalize import fold
from server.purchases.models import Purchase
from server.records import audit_row, jsonable, record_audit, update_record
from server.tasks.models import Task
from server.validation import BadValue, parse_uuid
from server.visits.models import Visit

UNDO_DAYS: Final = 30
MAX_MERGED: Final = 10  # accounts merged into one at once, besides the survivor
# The fields chosen one account's value at a time; tags are joined and custom values go by key.
CHOSEN: Final = tuple(name for name in EDITABLE if name not in {"tags", "fields"})
# What moves with an account: (model, entity name, snapshot key).
CHILDREN: Final = (
    (Contact, "contact", "contacts"),
    (Visit, "visit", "visits"),
    (Task, "task", "tasks"),
    (Purchase, "purchase", "purchases"),
    (Deal, "deal", "deals"),
)
AUDIT: Final = cast("Table", AuditEntry.__table__)

NOT_ALLOWED = _l("Only managers (for their team) and administrators can merge accounts.")
SAME_ACCOUNT = _l("An account cannot be merged with itself.")
CHOOSE_TWO = _l("Choose the account to keep and at least one account to merge into it.")
TOO_MANY = _l("At most {count} accounts can be merged at once.")
ALREADY_MERGED = _l("This account was already merged into another one.")
IN_BIN = _l("This account is in the bin; restore it first.")
NOT_INVOLVED = _l("Choose one of the accounts being merged.")
UNKNOWN_FIELD = _l("Unknown field.")
BAD_CONTACT = _l("Both contacts must belong to the accounts being merged.")
UNDONE = _l("This merge was already undone.")
TOO_OLD = _l("A merge can be undone for {days} days only.")
CHANGED_SINCE = _l("Changed since the merge; left as it is.")
CODE_TAKEN = _l("Its customer code is now used by another account; left empty.")


@dataclass(frozen=True, slots=True)
class LeftAlone:
    """Something unmerge did not put back, and why."""

    entity: str
    id: str
    name: str
    reason: Text

    def public(self, locale: str) -> dict[str, str]:
        return {
            "entity": self.entity,
            "id": self.id,
            "name": self.name,
            "reason": self.reason.render(locale),
        }


@dataclass(slots=True)
class Plan:
    """What the merge page shows: the accounts side by side and the default choices."""

    accounts: list[Account]
    survivor: Account
    # field -> id of the account whose value is taken (as text); custom values "fields.<key>".
    defaults: dict[str, str]
    tags: list[str]
    # Contacts that look like the same person: (contact kept, contact merged into it).
    contact_pairs: list[tuple[Contact, Contact]] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)


class MergeService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor

    # -- reads -----------------------------------------------------------------------------

    async def plan(self, account_ids: Sequence[uuid.UUID], survivor_id: uuid.UUID | None) -> Plan:
        """The accounts to merge (the first, or ``survivor_id``, kept) and the defaults."""
        self._check_role()
        ids = list(dict.fromkeys(account_ids))
        survivor_id = survivor_id if survivor_id in ids else (ids[0] if ids else None)
        if survivor_id is None or len(ids) < 2:
            raise ValidationFailed({"merged_ids": [CHOOSE_TWO]})
        accounts = await self._accounts(ids, lock=False)
        survivor = next(a for a in accounts if a.id == survivor_id)
        contacts = list(
            await self.session.scalars(
                select(Contact)
                .where(Contact.account_id.in_(ids), Contact.deleted_at.is_(None))
                .order_by(Contact.name, Contact.id)
            )
        )
        return Plan(
            accounts=[survivor, *(a for a in accounts if a.id != survivor_id)],
            survivor=survivor,
            defaults=default_choices(accounts),
            tags=union_tags(accounts),
            contact_pairs=same_people(contacts),
            contacts=contacts,
        )

    async def get(self, merge_id: uuid.UUID) -> Merge:
        """A merge whose survivor the actor may see."""
        merge = await self.session.scalar(
            select(Merge)
            .join(Account, Account.id == Merge.survivor_id)
            .where(Merge.id == merge_id, visible_accounts(self.actor))
        )
        if merge is None:
            raise NotFound("merge")
        return merge

    async def of_account(self, account_id: uuid.UUID) -> list[Merge]:
        """The merges into an account, newest first."""
        return list(
            await self.session.scalars(
                select(Merge)
                .where(Merge.survivor_id == account_id)
                .order_by(Merge.created_at.desc())
            )
        )

    # -- merge -----------------------------------------------------------------------------

    async def merge(
        self,
        survivor_id: uuid.UUID,
        merged_ids: Sequence[uuid.UUID],
        choices: Mapping[str, Any] | None = None,
        contact_merges: Mapping[Any, Any] | None = None,
        merge_id: uuid.UUID | None = None,
    ) -> Merge:
        """Merge ``merged_ids`` into ``survivor_id``: one transaction, nothing half done."""
        self._check_role()
        merged_ids = list(dict.fromkeys(merged_ids))
        if survivor_id in merged_ids:
            raise ValidationFailed({"merged_ids": [SAME_ACCOUNT]})
        if not merged_ids:
            raise ValidationFailed({"merged_ids": [CHOOSE_TWO]})
        if len(merged_ids) > MAX_MERGED:
            raise ValidationFailed({"merged_ids": [_l(TOO_MANY.msgid, count=MAX_MERGED)]})
        accounts = await self._accounts([survivor_id, *merged_ids], lock=True)
        survivor = next(a for a in accounts if a.id == survivor_id)
        merged = [a for a in accounts if a.id != survivor_id]
        values = self._chosen(accounts, choices or {})
        contact_map = await self._contact_map(contact_merges or {}, [a.id for a in accounts])

        merge = Merge(id=merge_id or uuid.uuid4(), survivor_id=survivor_id, survivor_version=0)
        actor = _merge_actor(self.actor, merge.id)
        snapshot: dict[str, Any] = {
            "survivor": jsonable(survivor.public()),
            "accounts": {str(a.id): jsonable(a.public()) for a in merged},
            "moved": {},
            "contacts": {},
            "contacts_before": {},
            "recontacted": {},
        }
        now = utcnow()
        # The merged-away accounts first: their codes free, before the survivor may take one.
        for account in merged:
            old = {"deleted_at": account.deleted_at, "code": account.code}
            account.deleted_at, account.merged_into_id, account.code = now, survivor.id, None
            self._bump(account, actor, now)
            self._audit(
                actor,
                ACCOUNT,
                account.id,
                "merge",
                account.version,
                {
                    "deleted_at": [old["deleted_at"], now],
                    "merged_into_id": [None, survivor.id],
                    **({"code": [old["code"], None]} if old["code"] else {}),
                },
            )
        await self.session.flush()
        await update_record(
            self.session, actor, survivor, ACCOUNT, values, survivor.version, action="merge"
        )
        for model, entity, key in CHILDREN:
            snapshot["moved"][key] = await self._move(
                model, entity, [a.id for a in merged], survivor.id, actor, now
            )
        await self._merge_contacts(contact_map, snapshot, actor, now)
        await self._move_recent_views([a.id for a in merged], survivor.id)
        await self.session.execute(
            delete(DuplicatePair).where(
                or_(
                    DuplicatePair.account_id.in_([a.id for a in merged]),
                    DuplicatePair.other_id.in_([a.id for a in merged]),
                )
            )
        )
        survivor.last_contact_at = max(
            (a.last_contact_at for a in accounts if a.last_contact_at), default=None
        )
        await AccountService(self.session, actor).refresh_search_key(survivor)
        merge.merged_ids = [str(a.id) for a in merged]
        merge.created_by = self.actor.user_id
        merge.created_at = now
        merge.survivor_version = survivor.version
        merge.snapshot = snapshot
        self.session.add(merge)
        changes.touched(self.session, [a.id for a in accounts])
        rollups.touched(self.session, [a.id for a in accounts])
        await self.session.flush()
        return merge

    def _chosen(self, accounts: Sequence[Account], choices: Mapping[str, Any]) -> dict[str, Any]:
        """The survivor's new values: each field from the account chosen for it."""
        by_id = {str(a.id): a for a in accounts}
        picks = default_choices(accounts)
        errors: dict[str, list[Text]] = {}
        custom_keys = {key for a in accounts for key in (a.fields or {})}
        for name, raw in choices.items():
            head, _, key = name.partition(".")
            known = name in CHOSEN or (head == "fields" and key in custom_keys)
            if not known:
                errors[name] = [UNKNOWN_FIELD]
            elif str(raw) not in by_id:
                errors[name] = [NOT_INVOLVED]
            else:
                picks[name] = str(raw)
        if errors:
            raise ValidationFailed(errors)
        values: dict[str, Any] = {
            name: getattr(by_id[picks[name]], name) for name in CHOSEN if name in picks
        }
        values["tags"] = union_tags(accounts)
        values["fields"] = {
            key: (by_id[picks[f"fields.{key}"]].fields or {}).get(key)
            for key in sorted(custom_keys)
            if f"fields.{key}" in picks
        }
        return values

    async def _contact_map(
        self, given: Mapping[Any, Any], account_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, uuid.UUID]:
        """Contact merges as given (ids or their text): each contact of the accounts, merged
        into another of them that is not itself merged away."""
        wanted: dict[uuid.UUID, uuid.UUID] = {}
        for gone, kept in given.items():
            try:
                wanted[parse_uuid(gone)] = parse_uuid(kept)
            except BadValue:
                raise ValidationFailed({f"contacts.{str(gone)[:40]}": [BAD_CONTACT]}) from None
        if not wanted:
            return {}
        ids = {*wanted, *wanted.values()}
        found = set(
            await self.session.scalars(
                select(Contact.id).where(
                    Contact.id.in_(ids),
                    Contact.account_id.in_(account_ids),
                    Contact.deleted_at.is_(None),
                )
            )
        )
        bad = [
            str(k)
            for k, v in wanted.items()
            if k == v or k not in found or v not in found or v in wanted
        ]
        if bad:
            raise ValidationFailed({f"contacts.{b}": [BAD_CONTACT] for b in bad})
        return dict(wanted)

    async def _move(
        self,
        model: Any,
        entity: str,
        from_ids: Sequence[uuid.UUID],
        to_id: uuid.UUID,
        actor: Actor,
        now: datetime,
    ) -> dict[str, list[Any]]:
        """Move a kind of record to the survivor; ``{id: [former account, version after]}``."""
        rows = (
            await self.session.execute(
                select(model.id, model.account_id, model.version).where(
                    model.account_id.in_(from_ids)
                )
            )
        ).all()
        if not rows:
            return {}
        await self.session.execute(
            update(model)
            .where(model.account_id.in_(from_ids))
            .values(
                account_id=to_id,
                version=model.version + 1,
                updated_at=now,
                updated_by=actor.user_id,
            )
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(
            insert(AUDIT),
            [
                audit_row(
                    actor,
                    entity=entity,
                    entity_id=rid,
                    action="merge",
                    version=version + 1,
                    changes={"account_id": [former, to_id]},
                )
                for rid, former, version in rows
            ],
        )
        return {str(rid): [str(former), version + 1] for rid, former, version in rows}

    async def _merge_contacts(
        self,
        contact_map: Mapping[uuid.UUID, uuid.UUID],
        snapshot: dict[str, Any],
        actor: Actor,
        now: datetime,
    ) -> None:
        """Each contact merged into another: its empty details filled from it, its visits
        moved to it, the merged one deleted and pointing at the kept one."""
        for gone_id, kept_id in contact_map.items():
            # Read again: the moves above went around the session.
            gone = await self.session.get(Contact, gone_id, populate_existing=True)
            kept = await self.session.get(Contact, kept_id, populate_existing=True)
            assert gone is not None and kept is not None  # noqa: S101,PT018 - checked
            snapshot["contacts_before"][str(kept.id)] = jsonable(kept.public())
            fill = {
                name: getattr(gone, name)
                for name in ("reading", "department", "title", "phone", "mobile", "email")
                if not getattr(kept, name) and getattr(gone, name)
            }
            if fill:
                await update_record(
                    self.session, actor, kept, "contact", fill, kept.version, action="merge"
                )
            gone.deleted_at, gone.merged_into_id = now, kept.id
            self._bump(gone, actor, now)
            self._audit(
                actor,
                "contact",
                gone.id,
                "merge",
                gone.version,
                {"deleted_at": [None, now], "merged_into_id": [None, kept.id]},
            )
            snapshot["contacts"][str(gone.id)] = [str(kept.id), gone.version]
            _settle(snapshot, "contacts", gone.id, gone.version)
            visits = (
                await self.session.execute(
                    select(Visit.id, Visit.version).where(Visit.contact_id == gone.id)
                )
            ).all()
            for visit_id, version in visits:
                await self.session.execute(
                    update(Visit)
                    .where(Visit.id == visit_id)
                    .values(contact_id=kept.id, version=version + 1, updated_at=now)
                    .execution_options(synchronize_session=False)
                )
                self._audit(
                    actor,
                    "visit",
                    visit_id,
                    "merge",
                    version + 1,
                    {"contact_id": [gone.id, kept.id]},
                )
                snapshot["recontacted"][str(visit_id)] = [str(gone.id), version + 1]
                _settle(snapshot, "visits", visit_id, version + 1)
        await self.session.flush()

    async def _move_recent_views(self, from_ids: Sequence[uuid.UUID], to_id: uuid.UUID) -> None:
        """A user who had opened a merged-away account has opened the survivor (the later
        of the two times counts)."""
        views = (
            await self.session.execute(
                select(RecentView.user_id, func.max(RecentView.viewed_at))
                .where(RecentView.account_id.in_([*from_ids, to_id]))
                .group_by(RecentView.user_id)
            )
        ).all()
        await self.session.execute(
            delete(RecentView).where(RecentView.account_id.in_([*from_ids, to_id]))
        )
        if views:
            await self.session.execute(
                insert(RecentView),
                [{"user_id": u, "account_id": to_id, "viewed_at": at} for u, at in views],
            )

    # -- undo ------------------------------------------------------------------------------

    async def undo(self, merge_id: uuid.UUID) -> tuple[Merge, list[LeftAlone]]:
        """Put the merged-away accounts back, with their values and their records, except
        what was changed since the merge (listed)."""
        self._check_role()
        merge = await self.get(merge_id)
        if merge.undone_at is not None:
            raise ValidationFailed({"merge": [UNDONE]})
        if utcnow() - merge.created_at > timedelta(days=UNDO_DAYS):
            raise ValidationFailed({"merge": [_l(TOO_OLD.msgid, days=UNDO_DAYS)]})
        merged_ids = [uuid.UUID(i) for i in merge.merged_ids]
        locked = await self.session.scalars(
            select(Account)
            .where(Account.id.in_([merge.survivor_id, *merged_ids]))
            .order_by(Account.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        by_id = {a.id: a for a in locked}
        # Lock, then look again: an undo that waited on another sees what that one did.
        await self.session.refresh(merge)
        if merge.undone_at is not None:
            raise ValidationFailed({"merge": [UNDONE]})
        actor = _merge_actor(self.actor, merge.id)
        now = utcnow()
        left: list[LeftAlone] = []
        survivor = by_id[merge.survivor_id]
        left += await self._restore_survivor(merge, survivor, actor)
        await self.session.flush()
        for account_id in merged_ids:
            left += await self._restore_account(merge, by_id[account_id], actor, now)
        await self.session.flush()
        # Contacts merged into another first: they move back with the rest afterwards.
        unmerged, bumped = await self._unmerge_contacts(merge, actor, now)
        left += unmerged
        for model, entity, key in CHILDREN:
            moved = merge.snapshot["moved"].get(key, {})
            left += await self._move_back(model, entity, moved, survivor.id, actor, now, bumped)
        services = AccountService(self.session, actor)
        for account_id in [merge.survivor_id, *merged_ids]:
            account = await self.session.get(Account, account_id)
            assert account is not None  # noqa: S101 - locked above
            account.last_contact_at = await self.session.scalar(
                select(func.max(Visit.occurred_at)).where(Visit.account_id == account_id)
            )
            await services.refresh_search_key(account)
        merge = await self.get(merge_id)
        merge.undone_at, merge.undone_by = now, self.actor.user_id
        merge.snapshot = {
            **merge.snapshot,
            "left_alone": [
                {"entity": a.entity, "id": a.id, "name": a.name, "reason": a.reason.msgid}
                for a in left
            ],
        }
        changes.touched(self.session, [merge.survivor_id, *merged_ids])
        rollups.touched(self.session, [merge.survivor_id, *merged_ids])
        await self.session.flush()
        return merge, left

    async def _restore_survivor(
        self, merge: Merge, survivor: Account, actor: Actor
    ) -> list[LeftAlone]:
        before = merge.snapshot["survivor"]
        since = await self._changed_since(ACCOUNT, survivor.id, merge.survivor_version)
        restore: dict[str, Any] = {}
        left: list[LeftAlone] = []
        now_values = jsonable(survivor.public())
        for name in (*CHOSEN, "tags"):
            if now_values.get(name) == before.get(name):
                continue
            if name in since:
                left.append(
                    LeftAlone(ACCOUNT, str(survivor.id), f"{survivor.name}: {name}", CHANGED_SINCE)
                )
            else:
                restore[name] = before.get(name)
        old_fields, new_fields = before.get("fields") or {}, now_values.get("fields") or {}
        fields: dict[str, Any] = {}
        for key in sorted({*old_fields, *new_fields}):
            if old_fields.get(key) == new_fields.get(key):
                continue
            if f"fields.{key}" in since:
                left.append(
                    LeftAlone(ACCOUNT, str(survivor.id), f"{survivor.name}: {key}", CHANGED_SINCE)
                )
            else:
                fields[key] = old_fields.get(key)
        if fields:
            restore["fields"] = fields
        if "owner_id" in restore and restore["owner_id"] is not None:
            restore["owner_id"] = uuid.UUID(restore["owner_id"])
        if restore:
            await update_record(
                self.session, actor, survivor, ACCOUNT, restore, survivor.version, action="unmerge"
            )
        return left

    async def _restore_account(
        self, merge: Merge, account: Account, actor: Actor, now: datetime
    ) -> list[LeftAlone]:
        before = merge.snapshot["accounts"].get(str(account.id), {})
        code = before.get("code")
        left: list[LeftAlone] = []
        if code:
            taken = await self.session.scalar(
                select(Account.id).where(Account.code == code, Account.id != account.id)
            )
            if taken is not None:
                left.append(LeftAlone(ACCOUNT, str(account.id), account.name, CODE_TAKEN))
                code = None
        changed = {
            "deleted_at": [account.deleted_at, None],
            "merged_into_id": [account.merged_into_id, None],
        }
        if code:
            changed["code"] = [None, code]
            account.code = code
        account.deleted_at, account.merged_into_id = None, None
        self._bump(account, actor, now)
        self._audit(actor, ACCOUNT, account.id, "unmerge", account.version, changed)
        return left

    async def _move_back(
        self,
        model: Any,
        entity: str,
        moved: Mapping[str, list[Any]],
        survivor_id: uuid.UUID,
        actor: Actor,
        now: datetime,
        bumped: Mapping[str, int],
    ) -> list[LeftAlone]:
        """Records the merge moved go back, unless changed since (their version moved on, other
        than by this unmerge: ``bumped``)."""
        if not moved:
            return []
        ids = [uuid.UUID(i) for i in moved]
        rows = (
            await self.session.execute(
                select(model.id, model.account_id, model.version).where(model.id.in_(ids))
            )
        ).all()
        left: list[LeftAlone] = []
        entries = []
        for rid, account_id, version in rows:
            former, version_after = moved[str(rid)]
            if account_id != survivor_id or version != bumped.get(str(rid), version_after):
                left.append(
                    LeftAlone(entity, str(rid), await self._label(model, rid), CHANGED_SINCE)
                )
                continue
            await self.session.execute(
                update(model)
                .where(model.id == rid)
                .values(
                    account_id=uuid.UUID(former),
                    version=version + 1,
                    updated_at=now,
                    updated_by=actor.user_id,
                )
                .execution_options(synchronize_session=False)
            )
            entries.append(
                audit_row(
                    actor,
                    entity=entity,
                    entity_id=rid,
                    action="unmerge",
                    version=version + 1,
                    changes={"account_id": [survivor_id, former]},
                )
            )
        if entries:
            await self.session.execute(insert(AUDIT), entries)
        return left

    async def _unmerge_contacts(
        self, merge: Merge, actor: Actor, now: datetime
    ) -> tuple[list[LeftAlone], dict[str, int]]:
        """Contacts merged into another come back, their visits with them; the versions
        this gave the records, for `_move_back`."""
        left: list[LeftAlone] = []
        bumped: dict[str, int] = {}
        recontacted = merge.snapshot.get("recontacted", {})
        for visit_id, (contact_id, version_after) in recontacted.items():
            visit = await self.session.get(Visit, uuid.UUID(visit_id), populate_existing=True)
            if visit is None:
                continue
            if visit.version != version_after:
                left.append(
                    LeftAlone(
                        "visit", visit_id, visit.occurred_at.date().isoformat(), CHANGED_SINCE
                    )
                )
                continue
            old = visit.contact_id
            visit.contact_id = uuid.UUID(contact_id)
            self._bump(visit, actor, now)
            bumped[visit_id] = visit.version
            self._audit(
                actor,
                "visit",
                visit.id,
                "unmerge",
                visit.version,
                {"contact_id": [old, contact_id]},
            )
        for gone_id, (kept_id, version_after) in merge.snapshot.get("contacts", {}).items():
            gone = await self.session.get(Contact, uuid.UUID(gone_id), populate_existing=True)
            if gone is None:
                continue
            if gone.version != version_after:
                left.append(LeftAlone("contact", gone_id, gone.name, CHANGED_SINCE))
                continue
            gone.deleted_at, gone.merged_into_id = None, None
            self._bump(gone, actor, now)
            bumped[gone_id] = gone.version
            self._audit(
                actor,
                "contact",
                gone.id,
                "unmerge",
                gone.version,
                {"deleted_at": [now, None], "merged_into_id": [kept_id, None]},
            )
        for kept_id, before in merge.snapshot.get("contacts_before", {}).items():
            kept = await self.session.get(Contact, uuid.UUID(kept_id), populate_existing=True)
            if kept is None:
                continue
            since = await self._changed_since("contact", kept.id, 0, skip_merges=True)
            restore = {
                name: before.get(name)
                for name in ("reading", "department", "title", "phone", "mobile", "email")
                if jsonable(getattr(kept, name)) != before.get(name) and name not in since
            }
            if restore:
                await update_record(
                    self.session, actor, kept, "contact", restore, kept.version, action="unmerge"
                )
        await self.session.flush()
        return left, bumped

    # -- helpers ---------------------------------------------------------------------------

    def _check_role(self) -> None:
        if not (self.actor.is_admin or self.actor.is_manager):
            raise Forbidden(NOT_ALLOWED)

    async def _accounts(self, ids: Sequence[uuid.UUID], *, lock: bool) -> list[Account]:
        """The accounts, each one the actor may see and live; locked in id order."""
        stmt = select(Account).where(Account.id.in_(ids), visible_accounts(self.actor))
        if lock:  # a merge that waited for these locks sees what the one before it did
            stmt = (
                stmt.order_by(Account.id)
                .with_for_update(of=Account)
                .execution_options(populate_existing=True)
            )
        found = {a.id: a for a in await self.session.scalars(stmt)}
        errors: dict[str, list[Text]] = {}
        for account_id in ids:
            account = found.get(account_id)
            if account is None:
                raise NotFound(ACCOUNT)
            if account.merged_into_id is not None:
                errors[str(account_id)] = [ALREADY_MERGED]
            elif account.deleted_at is not None:
                errors[str(account_id)] = [IN_BIN]
        if errors:
            raise ValidationFailed(errors)
        return [found[i] for i in ids]

    async def _changed_since(
        self, entity: str, record_id: uuid.UUID, version: int, *, skip_merges: bool = False
    ) -> set[str]:
        """Fields changed after ``version`` (with ``skip_merges``, by anything but merges)."""
        stmt = select(AuditEntry.changes).where(
            AuditEntry.entity == entity,
            AuditEntry.entity_id == record_id,
            AuditEntry.version > version,
        )
        if skip_merges:
            stmt = stmt.where(AuditEntry.action.not_in(["merge", "unmerge"]))
        return {name for entry in await self.session.scalars(stmt) for name in entry}

    async def _label(self, model: Any, record_id: uuid.UUID) -> str:
        if model is Contact:
            return str(
                await self.session.scalar(select(Contact.name).where(Contact.id == record_id))
            )
        if model is Task:
            return str(await self.session.scalar(select(Task.title).where(Task.id == record_id)))
        if model is Deal:
            return str(await self.session.scalar(select(Deal.title).where(Deal.id == record_id)))
        if model is Visit:
            at = await self.session.scalar(select(Visit.occurred_at).where(Visit.id == record_id))
            return at.date().isoformat() if at else str(record_id)
        at = await self.session.scalar(
            select(Purchase.purchased_at).where(Purchase.id == record_id)
        )
        return at.date().isoformat() if at else str(record_id)

    def _bump(self, record: Any, actor: Actor, now: datetime) -> None:
        record.version += 1
        record.updated_at = now
        record.updated_by = actor.user_id

    def _audit(
        self,
        actor: Actor,
        entity: str,
        record_id: uuid.UUID,
        action: str,
        version: int,
        changed: Mapping[str, Any],
    ) -> None:
        record_audit(
            self.session,
            actor,
            entity=entity,
            entity_id=record_id,
            action=action,
            version=version,
            changes=changed,
        )


def _settle(snapshot: dict[str, Any], key: str, record_id: uuid.UUID, version: int) -> None:
    """A moved record changed again later in the same merge: its version after the merge."""
    moved = snapshot["moved"].get(key, {})
    if str(record_id) in moved:
        moved[str(record_id)][1] = version


def _merge_actor(actor: Actor, merge_id: uuid.UUID) -> Actor:
    """The actor as the merge's changes are audited: channel ``merge``, with its id."""
    return replace(actor, channel=Channel.MERGE, merge_id=merge_id)


def _filled(value: Any) -> bool:
    return value not in (None, "", [], {})


def default_choices(accounts: Sequence[Account]) -> dict[str, str]:
    """For each field (and custom key) the account with the newest non-empty value."""
    newest_first = sorted(accounts, key=lambda a: (a.updated_at, str(a.id)), reverse=True)
    picks: dict[str, str] = {}
    for name in CHOSEN:
        holder = next((a for a in newest_first if _filled(getattr(a, name))), newest_first[0])
        picks[name] = str(holder.id)
    for key in sorted({k for a in accounts for k in (a.fields or {})}):
        holder = next(a for a in newest_first if _filled((a.fields or {}).get(key)))
        picks[f"fields.{key}"] = str(holder.id)
    return picks


def union_tags(accounts: Sequence[Account]) -> list[str]:
    return list(dict.fromkeys(tag for a in accounts for tag in (a.tags or [])))


def same_people(contacts: Sequence[Contact]) -> list[tuple[Contact, Contact]]:
    """Pairs of contacts of different accounts that look like one person: the same folded
    name, or the same phone or e-mail (the kept one first: the older)."""
    pairs: list[tuple[Contact, Contact]] = []
    ordered = sorted(contacts, key=lambda c: (c.created_at, str(c.id)))
    taken: set[uuid.UUID] = set()
    for i, kept in enumerate(ordered):
        if kept.id in taken:
            continue
        for other in ordered[i + 1 :]:
            if other.id in taken or other.account_id == kept.account_id:
                continue
            same = fold(kept.name) == fold(other.name) or any(
                getattr(kept, n) and getattr(kept, n) == getattr(other, n)
                for n in ("phone", "mobile", "email")
            )
            if same:
                pairs.append((kept, other))
                taken.add(other.id)
    return pairs

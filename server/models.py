"""Every model, imported in one place so Alembic sees the whole schema."""

from server.accounts.models import Account, AccountGram, AccountPhone
from server.analytics.models import AccountRollup, AccountScore, AnalyticsSetting, Segment
from server.audit.models import AuditEntry
from server.auth.models import ApiToken, LoginThrottle, Team, User, UserSession
from server.backup.models import BackupRun
from server.briefcase.models import BriefingChange, ChangeCounter
from server.calendar.models import CalendarFeed
from server.contacts.models import Contact
from server.db import Base
from server.deals.models import Deal, DealReason, Pipeline, Stage
from server.duplicates.models import DuplicatePair, DuplicateRule, DuplicateScan, Merge
from server.fields.models import FieldDefinition, VisitForm
from server.imports.models import ImportChange, ImportIssue, ImportJob, ImportMapping
from server.keystore import StoredSecret
from server.locations.models import AccountLocation
from server.purchases.models import Purchase
from server.push.models import Delivery, DeliveryAttempt, PushSubscription, Reminder
from server.reports.models import DailyReport, ReportComment, ReportSetting
from server.rules.models import FollowUpRule, RuleFiring, RuleRun
from server.sync.models import SyncMutation
from server.tasks.models import Task
from server.visits.models import Visit

__all__ = [
    "Account",
    "AccountGram",
    "AccountLocation",
    "AccountPhone",
    "AccountRollup",
    "AccountScore",
    "AnalyticsSetting",
    "ApiToken",
    "AuditEntry",
    "BackupRun",
    "Base",
    "BriefingChange",
    "CalendarFeed",
    "ChangeCounter",
    "Contact",
    "DailyReport",
    "Deal",
    "DealReason",
    "Delivery",
    "DeliveryAttempt",
    "DuplicatePair",
    "DuplicateRule",
    "DuplicateScan",
    "FieldDefinition",
    "FollowUpRule",
    "ImportChange",
    "ImportIssue",
    "ImportJob",
    "ImportMapping",
    "LoginThrottle",
    "Merge",
    "Pipeline",
    "Purchase",
    "PushSubscription",
    "Reminder",
    "ReportComment",
    "ReportSetting",
    "RuleFiring",
    "RuleRun",
    "Segment",
    "Stage",
    "StoredSecret",
    "SyncMutation",
    "Task",
    "Team",
    "User",
    "UserSession",
    "Visit",
    "VisitForm",
]

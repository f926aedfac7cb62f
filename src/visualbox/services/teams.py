"""Teams: create and delete them, members and their roles, invitations (docs/teams.md).

Who may do what is decided in ``services/policy.py``; this module keeps the rules of
the team itself:

* whoever creates a team is its first admin;
* a team always keeps at least one admin: the last one can neither leave nor be
  demoted (make someone else admin first);
* an invitation is a one-time link mailed to an address (its token stored as a
  SHA-256); accepting it needs a signed-in account with that verified address.
  Without a mail server, an existing account is added directly by its email;
* a team with dashboards or modules cannot be deleted until they are moved out or
  deleted;
* the counts are quotas (``settings.teams``): teams per account, members per team.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from visualbox.db.base import as_utc, utcnow
from visualbox.db.tables.accounts import User
from visualbox.db.tables.dashboards import Dashboard
from visualbox.db.tables.modules import Module
from visualbox.db.tables.teams import Team, TeamInvitation, TeamMember
from visualbox.errors import Conflict, FieldError, Forbidden, Gone, NotFound
from visualbox.services import policy, quotas
from visualbox.services.mail import Mailer
from visualbox.services.tokens import new_token, token_hash
from visualbox.settings import TeamSettings

JOIN_PATH = "/teams/join"


# --- reading ---------------------------------------------------------------------------


def dashboard_membership(
    db: Session, user: User | None, dashboard: Dashboard
) -> tuple[str, str | None]:
    """``(the caller's role label, the team's name)`` on a dashboard the caller may see."""
    role = policy.dashboard_role(db, user, dashboard)
    team = db.get(Team, dashboard.team_id) if dashboard.team_id else None
    return (role.label if role else "owner"), (team.name if team else None)


def list_teams(db: Session, user: User) -> list[tuple[Team, str, int]]:
    """The caller's teams: ``(team, role, member count)``, by name."""
    rows = db.execute(
        select(Team, TeamMember.role)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.user_id == user.id)
        .order_by(Team.name, Team.id)
    ).all()
    return [(team, role, _member_count(db, team.id)) for team, role in rows]


def get_team(db: Session, user: User, team_id: str) -> tuple[Team, str, int]:
    team, role = policy.require_team(db, user, team_id, "view")
    return team, role.label, _member_count(db, team.id)


def list_members(db: Session, user: User, team_id: str) -> list[tuple[TeamMember, User]]:
    policy.require_team(db, user, team_id, "view")
    rows = db.execute(
        select(TeamMember, User)
        .join(User, User.id == TeamMember.user_id)
        .where(TeamMember.team_id == team_id)
        .order_by(User.name, User.id)
    ).all()
    return [(member, member_user) for member, member_user in rows]


def list_invitations(db: Session, user: User, team_id: str) -> list[TeamInvitation]:
    """The pending invitations (neither accepted, revoked nor expired); admins only."""
    policy.require_team(db, user, team_id, "admin")
    return list(
        db.scalars(
            select(TeamInvitation)
            .where(
                TeamInvitation.team_id == team_id,
                TeamInvitation.accepted_at.is_(None),
                TeamInvitation.revoked_at.is_(None),
                TeamInvitation.expires_at > utcnow(),
            )
            .order_by(TeamInvitation.created_at.desc(), TeamInvitation.id)
        )
    )


def _member_count(db: Session, team_id: str) -> int:
    query = select(func.count()).select_from(TeamMember).where(TeamMember.team_id == team_id)
    return db.scalar(query) or 0


# --- teams -----------------------------------------------------------------------------


def create_team(db: Session, settings: TeamSettings, user: User, name: str) -> Team:
    quotas.check_teams(db, user, settings.per_user)
    team = Team(name=name, created_by=user.id)
    db.add(team)
    db.flush()
    db.add(TeamMember(team_id=team.id, user_id=user.id, role="admin"))
    db.commit()
    return team


def rename_team(db: Session, user: User, team_id: str, name: str) -> Team:
    team, _role = policy.require_team(db, user, team_id, "admin")
    team.name = name
    db.commit()
    return team


def delete_team(db: Session, user: User, team_id: str) -> None:
    """Delete a team with no dashboards and no modules left (admins only)."""
    team, _role = policy.require_team(db, user, team_id, "admin")
    boards = db.scalar(select(func.count()).where(Dashboard.team_id == team.id)) or 0
    mods = db.scalar(select(func.count()).where(Module.team_id == team.id)) or 0
    if boards or mods:
        what = " and ".join(
            part
            for part in (
                f"{boards} dashboard{'s' if boards != 1 else ''}" if boards else "",
                f"{mods} module{'s' if mods != 1 else ''}" if mods else "",
            )
            if part
        )
        raise Conflict(
            f"The team still has {what}: move them out of the team or delete them first."
        )
    db.delete(team)
    db.commit()


# --- members ---------------------------------------------------------------------------


def change_role(db: Session, user: User, team_id: str, member_id: str, role: str) -> TeamMember:
    """Give member ``member_id`` another role (admins only; never demote the last admin)."""
    policy.require_team(db, user, team_id, "admin")
    member = _member(db, team_id, member_id)
    if member.role == "admin" and role != "admin":
        _keep_an_admin(db, team_id, "demoted")
    member.role = role
    db.commit()
    return member


def remove_member(db: Session, user: User, team_id: str, member_id: str) -> None:
    """Remove a member (admins), or leave (anyone, ``member_id`` = self). Their own
    dashboards and modules in the team stay there, still theirs."""
    policy.require_team(db, user, team_id, "view" if member_id == user.id else "admin")
    member = _member(db, team_id, member_id)
    if member.role == "admin":
        _keep_an_admin(db, team_id, "leave" if member_id == user.id else "removed")
    db.delete(member)
    db.commit()


def _member(db: Session, team_id: str, member_id: str) -> TeamMember:
    member = db.get(TeamMember, (team_id, member_id)) if "\x00" not in member_id else None
    if member is None:
        raise NotFound("No such member of this team.", [FieldError("user_id", "not a member")])
    return member


def _keep_an_admin(db: Session, team_id: str, what: str) -> None:
    admins = db.scalar(
        select(func.count()).where(TeamMember.team_id == team_id, TeamMember.role == "admin")
    )
    if (admins or 0) <= 1:
        verb = "leave" if what == "leave" else f"be {what}"
        raise Conflict(
            f"The last admin of a team cannot {verb}: make another member admin first "
            "(or delete the team).",
            [FieldError("role", "the team needs at least one admin")],
        )


def _add_member(db: Session, settings: TeamSettings, team_id: str, user: User, role: str) -> None:
    if db.get(TeamMember, (team_id, user.id)) is not None:
        raise Conflict(
            f"{user.email} is already a member of this team.",
            [FieldError("email", "already a member")],
        )
    quotas.check_team_members(db, team_id, settings.members, pending=False)
    quotas.check_teams(db, user, settings.per_user)
    db.add(TeamMember(team_id=team_id, user_id=user.id, role=role))


# --- invitations -----------------------------------------------------------------------


@dataclass(frozen=True)
class Invited:
    """What an invitation did: ``invitation`` mailed, or ``added`` directly; ``message``
    says which in words."""

    message: str
    invitation: TeamInvitation | None = None
    added: User | None = None


def invite(
    db: Session,
    settings: TeamSettings,
    mailer: Mailer,
    public_url: str,
    user: User,
    team_id: str,
    email: str,
    role: str,
) -> Invited:
    """Invite ``email`` with ``role`` (admins only): by a mailed link when mail is
    configured, else by adding the existing account with that address at once."""
    team, _role = policy.require_team(db, user, team_id, "admin")
    email = email.strip()
    account = db.scalar(select(User).where(func.lower(User.email) == email.lower()))
    if not mailer.configured:
        if account is None or not account.is_verified or account.is_system:
            raise Conflict(
                "No mail server is configured, so no invitation can be mailed, and no "
                "account with a verified address uses this email: ask them to sign up "
                "(and verify their address) first.",
                [FieldError("email", "no account with this verified address")],
            )
        _add_member(db, settings, team.id, account, role)
        db.commit()
        return Invited(
            f"No mail server is configured, so {account.name} ({account.email}) was added "
            f"to the team directly as {role}.",
            added=account,
        )
    if account is not None and db.get(TeamMember, (team.id, account.id)) is not None:
        raise Conflict(
            f"{account.email} is already a member of this team.",
            [FieldError("email", "already a member")],
        )
    quotas.check_team_members(db, team.id, settings.members, pending=True)
    token = new_token()
    invitation = TeamInvitation(
        team_id=team.id,
        email=email,
        role=role,
        token_hash=token_hash(token),
        invited_by=user.id,
        expires_at=utcnow() + timedelta(hours=settings.invitation_hours),
    )
    db.add(invitation)
    db.flush()
    link = f"{public_url}{JOIN_PATH}?token={token}"
    text = (
        f"Hello,\n\n{user.name} invites you to the team \u201c{team.name}\u201d on VisualBox "
        f"as {role}. Open this link to join (sign in or sign up with this address, "
        f"{email}); it works once, for {settings.invitation_hours} hours:\n\n{link}\n\n"
        "If you do not want to join, ignore this mail: nothing changes.\n"
    )
    mailer.send(email, f"Join the team \u201c{team.name}\u201d on VisualBox", text, link=link)
    db.commit()
    return Invited(f"An invitation was mailed to {email}.", invitation=invitation)


def revoke_invitation(db: Session, user: User, team_id: str, invitation_id: str) -> None:
    policy.require_team(db, user, team_id, "admin")
    invitation = db.get(TeamInvitation, invitation_id) if "\x00" not in invitation_id else None
    if invitation is None or invitation.team_id != team_id or invitation.accepted_at:
        raise NotFound("No such pending invitation.")
    invitation.revoked_at = invitation.revoked_at or utcnow()
    db.commit()


def invitation_by_token(db: Session, token: str) -> tuple[TeamInvitation, Team]:
    """The pending invitation behind a link: :class:`NotFound` for an unknown token,
    :class:`Gone` once it was accepted, revoked or expired."""
    invitation = db.scalar(
        select(TeamInvitation).where(TeamInvitation.token_hash == token_hash(token))
    )
    team = db.get(Team, invitation.team_id) if invitation is not None else None
    if invitation is None or team is None:
        raise NotFound("No such invitation: check that the whole link was copied.")
    if invitation.accepted_at is not None:
        raise Gone("This invitation was already accepted.")
    if invitation.revoked_at is not None:
        raise Gone("This invitation was withdrawn by an admin of the team.")
    if as_utc(invitation.expires_at) <= utcnow():
        raise Gone("This invitation has expired: ask an admin of the team for a new one.")
    return invitation, team


def accept_invitation(db: Session, settings: TeamSettings, user: User, token: str) -> Team:
    """Join the team of the invitation: the caller's verified address must be the one
    invited."""
    invitation, team = invitation_by_token(db, token)
    if not user.is_verified or user.email.lower() != invitation.email.lower():
        raise Forbidden(
            f"This invitation is for {invitation.email}: sign in with the account that "
            "uses (and has verified) that address."
        )
    _add_member(db, settings, team.id, user, invitation.role)
    invitation.accepted_at = utcnow()
    db.commit()
    return team

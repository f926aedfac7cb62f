"""HTTP routes for teams, their members and invitations (docs/api/teams.md).

Who may do what: ``services/policy.py`` (a non-member gets 404, a member whose role is
too low 403).
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from visualbox.api.deps import CurrentUser, MailerDep, SessionDep, SettingsDep, SignedInUser
from visualbox.db.tables.accounts import User
from visualbox.db.tables.teams import Team, TeamInvitation, TeamMember
from visualbox.schemas.teams import (
    InvitationCreate,
    InvitationPreview,
    InvitationPublic,
    InvitationResult,
    MemberUpdate,
    TeamCreate,
    TeamMemberPublic,
    TeamPublic,
    TeamUpdate,
)
from visualbox.services import teams

router = APIRouter(tags=["teams"])


def team_public(team: Team, role: str, members: int) -> TeamPublic:
    return TeamPublic.model_validate(
        {"id": team.id, "name": team.name, "role": role, "members": members,
         "created_at": team.created_at}
    )  # fmt: skip


def member_public(member: TeamMember, user: User) -> TeamMemberPublic:
    return TeamMemberPublic.model_validate(
        {"user_id": user.id, "name": user.name, "email": user.email, "role": member.role,
         "created_at": member.created_at}
    )  # fmt: skip


def invitation_public(invitation: TeamInvitation) -> InvitationPublic:
    return InvitationPublic.model_validate(invitation, from_attributes=True)


@router.get("/teams")
def list_teams(db: SessionDep, user: CurrentUser) -> list[TeamPublic]:
    """The caller's teams, by name."""
    return [team_public(*row) for row in teams.list_teams(db, user)]


@router.post("/teams", status_code=201)
def create_team(
    body: TeamCreate, db: SessionDep, user: CurrentUser, settings: SettingsDep
) -> TeamPublic:
    """A new team with the caller as its admin."""
    team = teams.create_team(db, settings.teams, user, body.name)
    return team_public(team, "admin", 1)


@router.get("/teams/{team_id}")
def get_team(team_id: str, db: SessionDep, user: CurrentUser) -> TeamPublic:
    return team_public(*teams.get_team(db, user, team_id))


@router.patch("/teams/{team_id}")
def rename_team(team_id: str, body: TeamUpdate, db: SessionDep, user: CurrentUser) -> TeamPublic:
    teams.rename_team(db, user, team_id, body.name)
    return team_public(*teams.get_team(db, user, team_id))


@router.delete("/teams/{team_id}", status_code=204)
def delete_team(team_id: str, db: SessionDep, user: CurrentUser) -> Response:
    """Only a team without dashboards and modules (409 otherwise)."""
    teams.delete_team(db, user, team_id)
    return Response(status_code=204)


@router.get("/teams/{team_id}/members")
def list_members(team_id: str, db: SessionDep, user: CurrentUser) -> list[TeamMemberPublic]:
    return [member_public(*row) for row in teams.list_members(db, user, team_id)]


@router.patch("/teams/{team_id}/members/{member_id}")
def change_role(
    team_id: str, member_id: str, body: MemberUpdate, db: SessionDep, user: CurrentUser
) -> TeamMemberPublic:
    """Admins only; the last admin cannot be demoted (409)."""
    member = teams.change_role(db, user, team_id, member_id, body.role)
    account = db.get(User, member.user_id)
    assert account is not None
    return member_public(member, account)


@router.delete("/teams/{team_id}/members/{member_id}", status_code=204)
def remove_member(team_id: str, member_id: str, db: SessionDep, user: CurrentUser) -> Response:
    """An admin removes a member, or a member leaves (their own id); not the last admin."""
    teams.remove_member(db, user, team_id, member_id)
    return Response(status_code=204)


@router.get("/teams/{team_id}/invitations")
def list_invitations(team_id: str, db: SessionDep, user: CurrentUser) -> list[InvitationPublic]:
    """Pending invitations (admins only)."""
    return [invitation_public(i) for i in teams.list_invitations(db, user, team_id)]


@router.post("/teams/{team_id}/invitations", status_code=201)
def invite(
    team_id: str,
    body: InvitationCreate,
    db: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    mailer: MailerDep,
) -> InvitationResult:
    """Mail an invitation link; without a mail server, add the existing account with that
    address directly. ``message`` says which happened."""
    done = teams.invite(
        db, settings.teams, mailer, settings.public_url, user, team_id, body.email, body.role
    )
    member = None
    if done.added is not None:
        row = db.get(TeamMember, (team_id, done.added.id))
        assert row is not None
        member = member_public(row, done.added)
    invitation = invitation_public(done.invitation) if done.invitation is not None else None
    return InvitationResult(message=done.message, invitation=invitation, member=member)


@router.delete("/teams/{team_id}/invitations/{invitation_id}", status_code=204)
def revoke_invitation(
    team_id: str, invitation_id: str, db: SessionDep, user: CurrentUser
) -> Response:
    teams.revoke_invitation(db, user, team_id, invitation_id)
    return Response(status_code=204)


@router.get("/invitations/{invitation_token}")
def preview_invitation(
    invitation_token: str, db: SessionDep, user: SignedInUser
) -> InvitationPreview:
    """What the link offers (410 once accepted, revoked or expired)."""
    invitation, team = teams.invitation_by_token(db, invitation_token)
    return InvitationPreview.model_validate(
        {"team_name": team.name, "role": invitation.role, "email": invitation.email}
    )


@router.post("/invitations/{invitation_token}/accept")
def accept_invitation(
    invitation_token: str, db: SessionDep, user: CurrentUser, settings: SettingsDep
) -> TeamPublic:
    """Join: the caller's verified address must be the invited one (403 otherwise)."""
    team = teams.accept_invitation(db, settings.teams, user, invitation_token)
    return team_public(*teams.get_team(db, user, team.id))

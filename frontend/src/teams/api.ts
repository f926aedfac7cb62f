// Teams, their members and invitations (docs/teams.md), through the typed client.
import { client, ok } from "../api";
import type {
  InvitationPreview,
  InvitationPublic,
  InvitationResult,
  TeamMemberPublic,
  TeamPublic,
} from "../generated/api";

export type { InvitationPreview, InvitationPublic, InvitationResult, TeamMemberPublic, TeamPublic };
export type MemberRole = TeamMemberPublic["role"];
export const ROLES: MemberRole[] = ["viewer", "editor", "admin"];

const team = (id: string) => ({ params: { path: { team_id: id } } });
const member = (id: string, memberId: string) => ({ params: { path: { team_id: id, member_id: memberId } } });
const token = (value: string) => ({ params: { path: { invitation_token: value } } });

export const teamsApi = {
  list: () => ok(client.GET("/api/teams")),
  create: (name: string) => ok(client.POST("/api/teams", { body: { name } })),
  rename: (id: string, name: string) => ok(client.PATCH("/api/teams/{team_id}", { ...team(id), body: { name } })),
  remove: (id: string) => ok(client.DELETE("/api/teams/{team_id}", team(id))),
  members: (id: string) => ok(client.GET("/api/teams/{team_id}/members", team(id))),
  setRole: (id: string, memberId: string, role: MemberRole) =>
    ok(client.PATCH("/api/teams/{team_id}/members/{member_id}", { ...member(id, memberId), body: { role } })),
  removeMember: (id: string, memberId: string) =>
    ok(client.DELETE("/api/teams/{team_id}/members/{member_id}", member(id, memberId))),
  invitations: (id: string) => ok(client.GET("/api/teams/{team_id}/invitations", team(id))),
  invite: (id: string, email: string, role: MemberRole) =>
    ok(client.POST("/api/teams/{team_id}/invitations", { ...team(id), body: { email, role } })),
  revoke: (id: string, invitationId: string) =>
    ok(
      client.DELETE("/api/teams/{team_id}/invitations/{invitation_id}", {
        params: { path: { team_id: id, invitation_id: invitationId } },
      }),
    ),
  preview: (value: string) => ok(client.GET("/api/invitations/{invitation_token}", token(value))),
  accept: (value: string) => ok(client.POST("/api/invitations/{invitation_token}/accept", token(value))),
};

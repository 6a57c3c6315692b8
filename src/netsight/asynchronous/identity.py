"""Who a job runs as: a user id and the path of the user folder that holds it, never a credential.

The job's request keeps no password, session cookie or token
(``scrub.py``). When it is published, Zope asks the published object for
its user folder (``__allow_groups__``) before any other: the async view
answers, in the job's own publication only, with the ``JobUser`` of the
job, whose ``validate`` finds the user again by id in its user folder
(Plone's PAS, a Zope root ``acl_users``, a folder in a mounted database)
and checks the roles the view needs, as a user folder does. The job's
own publication is told by the worker's ``Attempt`` in its environ: an
object of this process, which no HTTP request can carry. A user removed
or stripped of the view's roles meanwhile is not found: the job runs as
Anonymous and is refused (401).
"""

from AccessControl import getSecurityManager
from Acquisition import aq_base
from Acquisition import aq_inner
from Acquisition import aq_parent


class JobUser:
    """The user a job runs as: ``user_id`` in the user folder at ``folder_path``."""

    def __init__(self, folder_path, user_id):
        self.folder_path = folder_path
        self.user_id = user_id

    def __repr__(self):
        return f"<JobUser {self.user_id!r} of {self.folder_path!r}>"

    def __eq__(self, other):
        return isinstance(other, JobUser) and (self.folder_path, self.user_id) == (other.folder_path, other.user_id)

    def __hash__(self):
        return hash((self.folder_path, self.user_id))

    def validate(self, request, auth="", roles=None):
        """The user, wrapped in its user folder, if it still exists and has ``roles``; else None.

        Zope's publisher calls this in place of a user folder's
        ``validate`` (``roles`` None: the published object is public).
        """
        root = request["PARENTS"][-1]
        folder = root.unrestrictedTraverse(self.folder_path, None)
        if folder is None or not hasattr(aq_base(folder), "getUserById"):
            return None
        user = folder.getUserById(self.user_id)
        if user is None:
            return None
        if not hasattr(user, "aq_base"):
            user = user.__of__(folder)
        if roles and not user.allowed(request.get("PUBLISHED"), roles):
            return None
        return user


def current_user():
    """The ``JobUser`` of the current user, or None for Anonymous.

    A user without a user folder of its own (Zope's emergency user) cannot
    be found again: None too (the job runs as Anonymous).
    """
    user = getSecurityManager().getUser()
    user_id = user.getId()
    folder = aq_parent(aq_inner(user))
    if user_id is None or folder is None or not hasattr(folder, "getPhysicalPath"):
        return None
    return JobUser("/".join(folder.getPhysicalPath()), user_id)

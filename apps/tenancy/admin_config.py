"""django.contrib.admin's app config with the DictaMesh admin site as the default site
(named in INSTALLED_APPS instead of ``django.contrib.admin``)."""

from django.contrib.admin.apps import AdminConfig


class DictaMeshAdminConfig(AdminConfig):
    """The admin, whose site checks tenant membership and roles (admin_site.py)."""

    default_site = "apps.tenancy.admin_site.DictaMeshAdminSite"

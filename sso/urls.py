from django.urls import path

from . import views

app_name = "sso"

urlpatterns = [
    path("login/", views.SignIn.as_view(), name="login"),
    path("callback/", views.Callback.as_view(), name="callback"),
    path("sign/", views.SignAgain.as_view(), name="sign"),
    path("resume/", views.resume_view, name="resume"),
]
